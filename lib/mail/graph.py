"""Microsoft Graph `sendMail`, for tenants where SMTP AUTH is off."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from typing import Any
from urllib.parse import quote

import requests

from lib.mail import errors, oauth
from lib.mail.receipt import Receipt

BACKOFF_SECONDS = 5.0
TIMEOUT_SECONDS = 30.0
RETRY_STATUSES = {429, 503, 504}
GRAPH_ATTEMPTS = 5


class Graph:
    """Microsoft Graph `POST /users/{sender}/sendMail`: the same message as JSON, the PDF as a
    file attachment. 429/503 wait as long as `Retry-After` says; a 401 renews the token once;
    any other refusal fails the customer with Graph's own message. No token, a token refused
    (401, 403) or a Graph that stays busy is `unavailable`; a lost connection is not, since the
    request may have arrived.
    """

    def __init__(
        self,
        base_url: str,
        sender: str,
        tokens: oauth.Tokens,
        *,
        attempts: int = GRAPH_ATTEMPTS,
        backoff: float = BACKOFF_SECONDS,
        timeout: float = TIMEOUT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/users/{quote(sender)}/sendMail"
        self.tokens = tokens
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.sleep = sleep
        self.session = requests.Session()

    def send(self, message: EmailMessage) -> Receipt:
        payload = graph_payload(message)
        renewed = False
        for attempt in range(1, self.attempts + 1):
            response = self._post(payload, renew=renewed)
            if response.status_code == 202:
                return Receipt("202 Accepted (Microsoft Graph)")
            reason = f"Microsoft Graph {response.status_code}: {error_words(response)}"
            if response.status_code == 401 and not renewed:
                renewed = True
                continue
            if response.status_code not in RETRY_STATUSES:
                unavailable = response.status_code in (401, 403) or errors.throttled(response.text)
                raise errors.DeliveryError(reason, unavailable=unavailable)
            if attempt == self.attempts:
                raise errors.DeliveryError(f"{reason} (tras {attempt} intentos)", unavailable=True)
            self.sleep(retry_after(response, self.backoff * 2 ** (attempt - 1)))
        raise errors.DeliveryError("Microsoft Graph no aceptó el mensaje")

    def _post(self, payload: dict[str, Any], *, renew: bool) -> requests.Response:
        try:
            token = self.tokens.refresh() if renew else self.tokens.token()
        except oauth.TokenError as exc:
            raise errors.DeliveryError(exc.reason, unavailable=True) from None
        try:
            return self.session.post(
                self.url,
                json=payload,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout,
            )
        except requests.ConnectionError as exc:
            raise errors.DeliveryError(
                f"sin conexión con Microsoft Graph: {errors.describe(exc)}"
            ) from None
        except requests.Timeout:
            raise errors.DeliveryError(
                "Microsoft Graph no respondió a tiempo; no se sabe si el correo salió",
                uncertain=True,
            ) from None

    def close(self) -> None:
        self.session.close()


def graph_payload(message: EmailMessage) -> dict[str, Any]:
    """The `sendMail` body: subject, From (when a sociedad sends as its own mailbox), the
    recipients, the HTML (or text) body, the attachments and the inline logo."""
    body = message.get_body(preferencelist=("html", "plain"))
    attachments = [_attachment(part) for part in message.iter_attachments()]
    if body is not None and body.get_content_subtype() == "html":
        attachments += [_attachment(part, inline=True) for part in _inline_parts(message)]
    payload: dict[str, Any] = {
        "subject": str(message["Subject"]),
        "body": {
            "contentType": "HTML" if body and body.get_content_subtype() == "html" else "Text",
            "content": body.get_content() if body else "",
        },
        "toRecipients": _recipients(message, "To"),
        "internetMessageId": str(message["Message-ID"]),
        "attachments": attachments,
    }
    for header, key in (("Cc", "ccRecipients"), ("Bcc", "bccRecipients")):
        if message[header] is not None:
            payload[key] = _recipients(message, header)
    if message["Reply-To"] is not None:
        payload["replyTo"] = _recipients(message, "Reply-To")
    name, address = parseaddr(str(message["From"]))
    payload["from"] = {"emailAddress": {"address": address, **({"name": name} if name else {})}}
    return {"message": payload, "saveToSentItems": False}


def _recipients(message: EmailMessage, header: str) -> list[dict[str, Any]]:
    return [
        {"emailAddress": {"address": address}}
        for _, address in getaddresses(message.get_all(header, []))
    ]


def _inline_parts(message: EmailMessage) -> list[EmailMessage]:
    return [
        part
        for part in message.walk()
        if part["Content-ID"] is not None and part.get_content_maintype() == "image"
    ]


def _attachment(part: EmailMessage, *, inline: bool = False) -> dict[str, Any]:
    attachment: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": part.get_filename() or ("logo" if inline else "adjunto"),
        "contentType": part.get_content_type(),
        "contentBytes": base64.b64encode(part.get_payload(decode=True) or b"").decode("ascii"),
    }
    if inline:
        attachment |= {"isInline": True, "contentId": str(part["Content-ID"]).strip("<>")}
    return attachment


def error_words(response: requests.Response) -> str:
    try:
        error = response.json().get("error", {})
        return " ".join(str(error.get("message") or error.get("code") or "").split()) or (
            response.reason or "error"
        )
    except ValueError:
        return response.reason or "error"


def retry_after(response: requests.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else default
