"""The sender mailbox through Microsoft Graph, read for bounces when sending goes through Graph
too (`BOUNCE_CHECK=graph`): the app needs `Mail.Read` on that mailbox.

`GET /users/{mailbox}/messages` lists messages by arrival, oldest first, from the bookmark on;
each is fetched as MIME (`/$value`), the form a bounce parser reads. The bookmark is the arrival
time of the last message read and the ids read at that instant, since several may share it.
Nothing is marked read or moved.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any
from urllib.parse import quote

import requests

from lib.mail import errors, oauth
from lib.mail.graph import RETRY_STATUSES, TIMEOUT_SECONDS, error_words, retry_after
from lib.mail.mailbox import Fetched, MailboxError

PAGE_SIZE = 100
ATTEMPTS = 5
BACKOFF_SECONDS = 5.0


class GraphInbox:
    def __init__(
        self,
        base_url: str,
        mailbox: str,
        tokens: oauth.Tokens,
        *,
        timeout: float = TIMEOUT_SECONDS,
        backoff: float = BACKOFF_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.mailbox = mailbox
        self.url = f"{base_url.rstrip('/')}/users/{quote(mailbox)}/messages"
        self.tokens = tokens
        self.timeout = timeout
        self.backoff = backoff
        self.sleep = sleep
        self.session = requests.Session()

    @property
    def name(self) -> str:
        return f"graph:{self.mailbox}"

    def messages(self, cursor: str, since: date | None) -> Iterator[Fetched]:
        last, _, seen_text = cursor.partition("|")
        seen = set(seen_text.split())
        start = last or (f"{since.isoformat()}T00:00:00Z" if since else "")
        params: dict[str, Any] = {
            "$select": "id,receivedDateTime",
            "$orderby": "receivedDateTime asc",
            "$top": PAGE_SIZE,
        }
        if start:
            params["$filter"] = f"receivedDateTime ge {start}"
        url: str | None = self.url
        while url:
            page = self._get(url, params if url == self.url else None).json()
            for entry in page.get("value", []):
                received, message_id = str(entry["receivedDateTime"]), str(entry["id"])
                if received == last and message_id in seen:
                    continue  # read at the last check
                seen = seen | {message_id} if received == last else {message_id}
                last = received
                raw = self._get(f"{self.url}/{quote(message_id)}/$value", None).content
                yield Fetched(raw, f"{last}|{' '.join(sorted(seen))}")
            url = page.get("@odata.nextLink")  # the link carries the query

    def _get(self, url: str, params: dict[str, Any] | None) -> requests.Response:
        renewed = False
        for attempt in range(1, ATTEMPTS + 1):
            response = self._request(url, params, renew=renewed)
            if response.status_code == 200:
                return response
            if response.status_code == 401 and not renewed:
                renewed = True
                continue
            reason = f"Microsoft Graph {response.status_code}: {error_words(response)}"
            if response.status_code not in RETRY_STATUSES or attempt == ATTEMPTS:
                raise MailboxError(f"no se pudo leer el buzón {self.mailbox}: {reason}")
            self.sleep(retry_after(response, self.backoff * 2 ** (attempt - 1)))
        raise MailboxError(f"no se pudo leer el buzón {self.mailbox}")

    def _request(
        self, url: str, params: dict[str, Any] | None, *, renew: bool
    ) -> requests.Response:
        try:
            token = self.tokens.refresh() if renew else self.tokens.token()
        except oauth.TokenError as exc:
            raise MailboxError(f"buzón de rebotes: {exc.reason}") from None
        try:
            return self.session.get(
                url,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise MailboxError(
                f"sin conexión con Microsoft Graph: {errors.describe(exc)}"
            ) from None
