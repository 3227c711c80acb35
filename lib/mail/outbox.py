"""The embedded transport: each message a real `.eml` file in a folder; nothing leaves."""

from __future__ import annotations

import contextlib
import os
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from lib.mail import errors
from lib.mail.receipt import Receipt


class Outbox:
    """Each message as `<UTC time>_<Message-ID>.eml` in a folder, written whole or not at all."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage) -> Receipt:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        ident = re.sub(r"[^A-Za-z0-9.@_-]", "", str(message.get("Message-ID", ""))) or "mensaje"
        path = self.directory / f"{stamp}_{ident}.eml"
        partial = path.with_name(f".{path.name}.part")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(message.as_bytes())
            os.replace(partial, path)
        except OSError as exc:
            with contextlib.suppress(OSError):  # nothing to clean up where nothing was written
                partial.unlink(missing_ok=True)
            raise errors.DeliveryError(
                f"no se pudo escribir en la bandeja {self.directory}: {exc.strerror}",
                unavailable=True,
            ) from None
        return Receipt(f"guardado en {path.name}")

    def close(self) -> None:
        return None
