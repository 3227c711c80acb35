"""Mail: where a composed message goes (`transports`: outbox, smtp, graph), Microsoft 365
tokens (`oauth`), pacing, and the headers every message of ours carries (`envelope`).

Every transport raises `errors.DeliveryError` with a Spanish reason; nothing here knows about
customers or runs (that is `lib.sending`).
"""
