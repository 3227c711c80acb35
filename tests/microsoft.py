"""Microsoft 365 on loopback: an OpenID provider with a token endpoint (HTTPS, as msal insists)
and a Graph `sendMail` endpoint, both real HTTP servers that keep what they were sent.

The provider also answers RFC 7662 token introspection (`POST <authority>/introspect`, form
field `token`) for the tokens it issued, naming `tokens.username` as their user: that is how
a loopback Dovecot (tests/mailstack.py) checks an `AUTHENTICATE XOAUTH2` token.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TENANT = "contoso-test"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "Sup3r-Secreto~del~Cliente"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key; the certificate doubles as the CA bundle."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def __enter__(self) -> Any:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class IssuedTokens:
    expires_in: int = 3600
    refuse_client: bool = False
    issued: list[str] = field(default_factory=list)
    forms: list[dict[str, list[str]]] = field(default_factory=list)
    # The mailbox an issued token may open, as introspection reports it; "" names none.
    username: str = ""
    introspected: list[str] = field(default_factory=list)


class IdentityProvider(_Server):
    """Discovery document and client-credentials token endpoint under `/<tenant>`."""

    def __init__(self, certificate: Path, key: Path) -> None:
        super().__init__(_IdentityHandler)
        self.tokens = IssuedTokens()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)

    @property
    def authority(self) -> str:
        return f"https://127.0.0.1:{self.port}/{TENANT}"

    @property
    def introspection_url(self) -> str:
        return f"{self.authority}/introspect"

    def introspect(self, token: str) -> dict[str, Any]:
        """What RFC 7662 introspection says of a token: active only if this provider issued it."""
        self.tokens.introspected.append(token)
        if token not in self.tokens.issued:
            return {"active": False}
        answer: dict[str, Any] = {"active": True, "client_id": CLIENT_ID, "token_type": "Bearer"}
        if self.tokens.username:
            answer["username"] = self.tokens.username
        return answer


class _IdentityHandler(BaseHTTPRequestHandler):
    def log_message(self, *_: object) -> None:
        return None

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        provider: IdentityProvider = self.server.owner  # type: ignore[attr-defined]
        if self.path.split("?")[0] != f"/{TENANT}/.well-known/openid-configuration":
            self._json(404, {"error": "not_found"})
            return
        self._json(
            200,
            {
                "issuer": provider.authority,
                "authorization_endpoint": f"{provider.authority}/authorize",
                "token_endpoint": f"{provider.authority}/token",
            },
        )

    def do_POST(self) -> None:
        provider: IdentityProvider = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode())
        if self.path.split("?")[0] == f"/{TENANT}/introspect":
            self._json(200, provider.introspect(form.get("token", [""])[0]))
            return
        state = provider.tokens
        state.forms.append(form)
        good = (
            form.get("client_id") == [CLIENT_ID]
            and form.get("client_secret") == [CLIENT_SECRET]
            and form.get("grant_type") == ["client_credentials"]
        )
        if state.refuse_client or not good:
            self._json(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                },
            )
            return
        token = f"token-{len(state.issued) + 1}"
        state.issued.append(token)
        self._json(
            200, {"token_type": "Bearer", "expires_in": state.expires_in, "access_token": token}
        )


@dataclass
class GraphCall:
    path: str
    authorization: str
    payload: dict[str, Any]


@dataclass
class GraphReplies:
    """What `sendMail` answers next: a list of (status, headers, body), then 202 forever."""

    queue: list[tuple[int, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    accepted_tokens: set[str] | None = None


@dataclass
class StoredMessage:
    id: str
    received: str  # receivedDateTime, e.g. 2026-12-02T10:00:00Z
    raw: bytes


EXPIRED = {"code": "InvalidAuthenticationToken", "message": "Access token has expired."}


class GraphServer(_Server):
    """`sendMail`, and the sender mailbox's `GET /users/{m}/messages` (ordered by arrival,
    `$filter=receivedDateTime ge …`, pages of `$top` with `@odata.nextLink`) and each
    message's MIME at `/messages/{id}/$value`, from `stored`."""

    def __init__(self) -> None:
        super().__init__(_GraphHandler)
        self.calls: list[GraphCall] = []
        self.replies = GraphReplies()
        self.stored: list[StoredMessage] = []
        self.reads: list[str] = []  # the paths of every GET
        self.get_replies: list[tuple[int, dict[str, str], dict[str, Any]]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1.0"


class _GraphHandler(BaseHTTPRequestHandler):
    def log_message(self, *_: object) -> None:
        return None

    def do_GET(self) -> None:
        graph: GraphServer = self.server.owner  # type: ignore[attr-defined]
        graph.reads.append(self.path)
        accepted = graph.replies.accepted_tokens
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if accepted is not None and token not in accepted:
            self._reply(401, {}, json.dumps({"error": EXPIRED}).encode())
            return
        if graph.get_replies:
            status, headers, body = graph.get_replies.pop(0)
            self._reply(status, headers, json.dumps(body).encode())
            return
        path, _, query = self.path.partition("?")
        if path.endswith("/$value"):
            wanted = unquote(path.split("/")[-2])
            found = [m.raw for m in graph.stored if m.id == wanted]
            self._reply(200 if found else 404, {}, found[0] if found else b"")
            return
        self._reply(200, {}, json.dumps(self._page(graph, path, parse_qs(query))).encode())

    def _page(self, graph: GraphServer, path: str, query: dict[str, list[str]]) -> dict[str, Any]:
        since = query.get("$filter", [""])[0].removeprefix("receivedDateTime ge ")
        listed = sorted(
            (m for m in graph.stored if not since or m.received >= since), key=lambda m: m.received
        )
        top, skip = int(query.get("$top", ["10"])[0]), int(query.get("$skip", ["0"])[0])
        page: dict[str, Any] = {
            "value": [
                {"id": m.id, "receivedDateTime": m.received} for m in listed[skip : skip + top]
            ]
        }
        if skip + top < len(listed):
            rest = {**{k: v[0] for k, v in query.items()}, "$skip": str(skip + top)}
            page["@odata.nextLink"] = (
                f"{graph.base_url.removesuffix('/v1.0')}{path}?{urlencode(rest)}"
            )
        return page

    def _reply(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        graph: GraphServer = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length", "0"))
        authorization = self.headers.get("Authorization", "")
        graph.calls.append(GraphCall(self.path, authorization, json.loads(self.rfile.read(length))))
        accepted = graph.replies.accepted_tokens
        if accepted is not None and authorization.removeprefix("Bearer ") not in accepted:
            status, headers, body = 401, {}, {"error": EXPIRED}
        elif graph.replies.queue:
            status, headers, body = graph.replies.queue.pop(0)
        else:
            status, headers, body = 202, {}, {}
        self._reply(status, headers, json.dumps(body).encode() if body else b"")
