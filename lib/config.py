"""Settings: one typed object, from `.streamlit/secrets.toml` with environment variables on top.

Built by `load_settings()` on demand (never at import time) so tests and the CLI can feed their
own file and environment. Every setting has a working embedded default except secrets, which
have none: the cookie key is generated once and kept under the data folder.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SECRETS_FILE = PROJECT_ROOT / ".streamlit" / "secrets.toml"
DATABASE_FILE = "envio.db"
COOKIE_KEY_FILE = "auth_cookie_key"
MIN_COOKIE_KEY_LENGTH = 32

MAIL_TRANSPORTS = ("outbox", "smtp", "graph")
SMTP_SECURITY_MODES = ("starttls", "ssl", "none")
SMTP_AUTH_MODES = ("password", "xoauth2")
BOUNCE_SOURCES = ("off", "imap", "graph")
IMAP_SECURITY_MODES = ("ssl", "starttls", "none")
MICROSOFT_LOGIN = "https://login.microsoftonline.com"
SMTP_SCOPE = "https://outlook.office365.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "cambiar", "secret", "xxx"}
TRUE_WORDS = {"1", "true", "yes", "si", "sí", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


Number = TypeVar("Number", int, float)


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the setting."""


@dataclass(frozen=True)
class OAuth:
    """Microsoft identity platform, client-credentials flow: for SMTP XOAUTH2 and Graph."""

    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str = ""
    authority: str = ""


@dataclass(frozen=True)
class BounceCheck:
    """Where the bounce reader finds the sender mailbox: `off`, over IMAP, or through Graph
    (the `MAIL_FROM` mailbox), and how often the workers read it.
    """

    source: str = "off"
    minutes: int = 5
    imap_host: str = ""
    imap_port: int = 993
    imap_security: str = "ssl"
    imap_user: str = ""
    imap_password: str = field(default="", repr=False)
    imap_folder: str = "INBOX"
    imap_auth: str = "password"

    @property
    def enabled(self) -> bool:
        return self.source != "off"


@dataclass(frozen=True)
class Settings:
    database_url: str
    mail_transport: str
    outbox_dir: Path
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_user: str
    smtp_password: str = field(repr=False)
    mail_from: str
    mail_rate_per_minute: int
    # Recipients per sender mailbox in any 24 hours (0: no limit); Exchange Online's is 10,000.
    mail_daily_limit: int
    smtp_auth: str
    oauth: OAuth | None
    auth_cookie_key: str = field(repr=False)
    auth_cookie_expiry_days: float
    timezone: ZoneInfo
    demo_data: bool
    data_dir: Path
    # Send worker processes the app supervises (0: none, only `lib.cli worker`s send).
    workers: int = 1
    password_login: bool = True
    sso_provider_name: str = "Microsoft"
    sso_auto_create_domain: str = ""
    graph_base_url: str = GRAPH_BASE_URL
    bounces: BounceCheck = field(default_factory=BounceCheck)
    # A schedule's occurrence missed while no worker ran is run on recovery if younger.
    schedule_catchup_hours: int = 24
    # A folder of invoice files (.pdf/.xml, sub-folders too) for the sociedades that attach
    # them, besides the ZIPs uploaded per sociedad (`lib.statements.attachments`).
    invoices_dir: Path | None = None
    # The whole email's size limit; invoices that would exceed it are listed, not attached.
    mail_max_mb: int = 20

    def today(self) -> date:
        """The date in the app's time zone: the day a send runs, for file names and logs."""
        return datetime.now(self.timezone).date()


def load_settings(
    secrets_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Merge the secrets file and the environment (environment wins) into `Settings`."""
    raw = _read_secrets(secrets_file or DEFAULT_SECRETS_FILE)
    raw.update({k: v for k, v in (os.environ if environ is None else environ).items()})
    data_dir = _path(raw.get("DATA_DIR") or PROJECT_ROOT / "data")
    embedded = f"sqlite:///{data_dir / DATABASE_FILE}"
    database_url = _text(raw, "DATABASE_URL", embedded)
    return Settings(
        database_url=database_url,
        mail_transport=_choice(raw, "MAIL_TRANSPORT", MAIL_TRANSPORTS),
        outbox_dir=_path(raw.get("OUTBOX_DIR") or data_dir / "outbox"),
        smtp_host=_text(raw, "SMTP_HOST", "localhost"),
        smtp_port=_int(raw, "SMTP_PORT", 587, minimum=1),
        smtp_security=_choice(raw, "SMTP_SECURITY", SMTP_SECURITY_MODES),
        smtp_user=_text(raw, "SMTP_USER", ""),
        smtp_password=_text(raw, "SMTP_PASSWORD", ""),
        mail_from=_text(raw, "MAIL_FROM", "Estados de cuenta <estados.cuenta@localhost>"),
        mail_rate_per_minute=_int(raw, "MAIL_RATE_PER_MINUTE", 30, minimum=0),
        mail_daily_limit=_int(raw, "MAIL_DAILY_LIMIT", 10_000, minimum=0),
        smtp_auth=_choice(raw, "SMTP_AUTH", SMTP_AUTH_MODES),
        oauth=_oauth(raw),
        graph_base_url=_text(raw, "GRAPH_BASE_URL", GRAPH_BASE_URL).rstrip("/"),
        auth_cookie_key=_cookie_key(raw.get("AUTH_COOKIE_KEY"), data_dir),
        auth_cookie_expiry_days=_days(raw, "AUTH_COOKIE_EXPIRY_DAYS", 1.0),
        timezone=_zone(_text(raw, "TIMEZONE", "America/Mexico_City")),
        demo_data=_bool(raw, "DEMO_DATA", database_url == embedded),
        data_dir=data_dir,
        workers=_int(raw, "WORKERS", os.cpu_count() or 1, minimum=0),
        password_login=_bool(raw, "PASSWORD_LOGIN", True),
        sso_provider_name=_text(raw, "SSO_PROVIDER_NAME", "Microsoft"),
        sso_auto_create_domain=_text(raw, "SSO_AUTO_CREATE_DOMAIN", "").lower().lstrip("@"),
        bounces=_bounce_check(raw),
        schedule_catchup_hours=_int(raw, "SCHEDULE_CATCHUP_HOURS", 24, minimum=0),
        invoices_dir=_optional_path(raw, "INVOICES_DIR"),
        mail_max_mb=_int(raw, "MAIL_MAX_MB", 20, minimum=1),
    )


def _bounce_check(raw: Mapping[str, Any]) -> BounceCheck:
    check = BounceCheck(
        source=_choice(raw, "BOUNCE_CHECK", BOUNCE_SOURCES),
        minutes=_int(raw, "BOUNCE_CHECK_MINUTES", 5, minimum=1),
        imap_host=_text(raw, "BOUNCE_IMAP_HOST", ""),
        imap_port=_int(raw, "BOUNCE_IMAP_PORT", 993, minimum=1),
        imap_security=_choice(raw, "BOUNCE_IMAP_SECURITY", IMAP_SECURITY_MODES),
        imap_user=_text(raw, "BOUNCE_IMAP_USER", ""),
        imap_password=_text(raw, "BOUNCE_IMAP_PASSWORD", ""),
        imap_folder=_text(raw, "BOUNCE_IMAP_FOLDER", "INBOX"),
        imap_auth=_choice(raw, "BOUNCE_IMAP_AUTH", SMTP_AUTH_MODES),
    )
    if check.source == "imap":
        needed = ["BOUNCE_IMAP_HOST", "BOUNCE_IMAP_USER"]
        if check.imap_auth == "password":
            needed.append("BOUNCE_IMAP_PASSWORD")
        missing = [name for name in needed if not _text(raw, name, "")]
        if missing:
            raise SettingsError(
                f"{', '.join(missing)} hace(n) falta para leer los rebotes (BOUNCE_CHECK=imap)"
            )
    return check


def _oauth(raw: Mapping[str, Any]) -> OAuth | None:
    """Required by SMTP_AUTH=xoauth2 and MAIL_TRANSPORT=graph; None otherwise."""
    transport = _text(raw, "MAIL_TRANSPORT", "outbox").lower()
    uses = _oauth_uses(raw, transport)
    if not uses:
        return None
    names = ("OAUTH_TENANT_ID", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET")
    missing = [name for name in names if not _text(raw, name, "")]
    if missing:
        raise SettingsError(
            f"{', '.join(missing)} hace(n) falta para usar Microsoft 365 ({', '.join(uses)})"
        )
    tenant = _text(raw, "OAUTH_TENANT_ID", "")
    return OAuth(
        tenant_id=tenant,
        client_id=_text(raw, "OAUTH_CLIENT_ID", ""),
        client_secret=_text(raw, "OAUTH_CLIENT_SECRET", ""),
        scope=_text(raw, "OAUTH_SCOPE", GRAPH_SCOPE if transport == "graph" else SMTP_SCOPE),
        authority=_text(raw, "OAUTH_AUTHORITY", f"{MICROSOFT_LOGIN}/{tenant}").rstrip("/"),
    )


def _oauth_uses(raw: Mapping[str, Any], transport: str) -> list[str]:
    """The settings that need a Microsoft 365 token, as the error message names them."""
    uses = []
    if transport == "graph":
        uses.append("MAIL_TRANSPORT=graph")
    if transport == "smtp" and _text(raw, "SMTP_AUTH", "").lower() == "xoauth2":
        uses.append("SMTP_AUTH=xoauth2")
    source = _text(raw, "BOUNCE_CHECK", "off").lower()
    if source == "graph":
        uses.append("BOUNCE_CHECK=graph")
    if source == "imap" and _text(raw, "BOUNCE_IMAP_AUTH", "").lower() == "xoauth2":
        uses.append("BOUNCE_IMAP_AUTH=xoauth2")
    return uses


def _read_secrets(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            document = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: no es un archivo TOML válido ({exc})") from exc
    # Sections (e.g. Streamlit's [auth]) belong to other readers; settings are top-level keys.
    return {k: v for k, v in document.items() if not isinstance(v, dict)}


def _path(value: str | Path) -> Path:
    path = Path(value)
    return path if path.is_absolute() else PROJECT_ROOT / path


def _optional_path(raw: Mapping[str, Any], name: str) -> Path | None:
    """None when unset: a folder that turns a feature on, rather than one with a default."""
    value = _text(raw, name, "")
    return _path(value) if value else None


def _text(raw: Mapping[str, Any], name: str, default: str) -> str:
    value = raw.get(name)
    return default if value is None or str(value).strip() == "" else str(value).strip()


def _choice(raw: Mapping[str, Any], name: str, choices: tuple[str, ...]) -> str:
    value = _text(raw, name, choices[0]).lower()
    if value not in choices:
        raise SettingsError(f"{name} debe ser uno de {', '.join(choices)}; no '{value}'")
    return value


def _int(raw: Mapping[str, Any], name: str, default: int, *, minimum: int) -> int:
    number = _number(raw, name, int, "un número entero")
    if number is None:
        return default
    if number < minimum:
        raise SettingsError(f"{name} debe ser al menos {minimum}; no {number}")
    return number


def _days(raw: Mapping[str, Any], name: str, default: float) -> float:
    days = _number(raw, name, float, "un número de días")
    if days is None:
        return default
    if not 0 < days <= 365:
        raise SettingsError(f"{name} debe estar entre 0 y 365 días; no {days:g}")
    return days


def _number(raw: Mapping[str, Any], name: str, kind: type[Number], described: str) -> Number | None:
    """The setting as a number, None when unset; a value that is not one names the setting."""
    value = raw.get(name)
    if value is None or str(value).strip() == "":
        return None
    try:
        return kind(str(value).strip())
    except ValueError:
        raise SettingsError(f"{name} debe ser {described}; no '{value}'") from None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"TIMEZONE '{name}' no es una zona horaria conocida") from None


def _bool(raw: Mapping[str, Any], name: str, default: bool) -> bool:
    value = raw.get(name)
    if value is None or str(value).strip() == "":
        return default
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise SettingsError(f"{name} debe ser true o false; no '{value}'")


def _cookie_key(value: Any, data_dir: Path) -> str:
    """Use the configured key, or one generated on first use and kept in the data folder."""
    if value is not None and str(value).strip():
        key = str(value).strip()
        if key.lower() in PLACEHOLDER_SECRETS or len(key) < MIN_COOKIE_KEY_LENGTH:
            raise SettingsError(
                f"AUTH_COOKIE_KEY debe ser un secreto aleatorio de al menos "
                f"{MIN_COOKIE_KEY_LENGTH} caracteres; genera uno con "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return key
    return read_or_create_secret(data_dir / COOKIE_KEY_FILE)


def read_or_create_secret(path: Path) -> str:
    """Return the secret stored in `path`, creating it (owner-only) if it does not exist yet.

    Written to a temporary file and hard-linked into place, so two processes starting at once
    never see a half-written key and agree on one.
    """
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secrets.token_urlsafe(32) + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text(encoding="utf-8").strip()
