"""Access tokens from the Microsoft identity platform (client credentials), through `msal`.

Exchange Online is retiring basic-auth SMTP; sending then needs a bearer token for SMTP
XOAUTH2 or Microsoft Graph. `msal` keeps the token and fetches a new one before it expires;
`refresh()` drops it when a server refused it. Neither the secret nor a token ever goes into a
message or a log line.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlparse

import msal
import requests

from lib.config import MICROSOFT_LOGIN, OAuth

# msal logs HTTP exchanges at DEBUG; they may carry tokens.
logging.getLogger("msal").setLevel(logging.WARNING)


class TokenError(Exception):
    """No token: `permanent` when the identity platform said no (wrong client, secret, scope),
    not when it could not be reached.
    """

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Tokens:
    def __init__(self, settings: OAuth) -> None:
        self.settings = settings
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            return self._acquire()

    def refresh(self) -> str:
        """A new token, not the cached one (the server refused it)."""
        with self._lock:
            if self._app is not None:
                self._app.remove_tokens_for_client()
            return self._acquire()

    def _acquire(self) -> str:
        try:
            result: dict[str, Any] = self._client().acquire_token_for_client(
                scopes=[self.settings.scope]
            )
        except (requests.RequestException, ValueError) as exc:
            self._app = None  # discovery failed: try again from scratch next time
            raise TokenError(
                f"no se pudo contactar al proveedor de identidad ({_first_line(exc)})",
                permanent=False,
            ) from None
        if "access_token" in result:
            return str(result["access_token"])
        raise TokenError(
            "el proveedor de identidad no dio un token: "
            f"{result.get('error', 'error')} ({_first_line(result.get('error_description', ''))})",
            permanent=True,
        )

    def _client(self) -> msal.ConfidentialClientApplication:
        """Entra ID by its authority; any other OpenID provider (tests, other clouds) by its
        discovery document.
        """
        if self._app is None:
            settings = self.settings
            options: dict[str, Any] = {"authority": settings.authority}
            if urlparse(settings.authority).hostname != urlparse(MICROSOFT_LOGIN).hostname:
                options = {"oidc_authority": settings.authority}
            self._app = msal.ConfidentialClientApplication(
                settings.client_id, client_credential=settings.client_secret, **options
            )
        return self._app


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0][:300] if text else ""
