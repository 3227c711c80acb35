"""Email addresses, checked the same way wherever one enters the system.

Syntax only (the `email-validator` package, no DNS look-up): the catalog is typed by people
who know their customers, and an unreachable mailbox shows up as a failed send with its reason.
Lists are separated by `;` everywhere: input, storage, display and the send log.
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from lib.normalize import InvalidValue

SEPARATORS_RE = re.compile(r"[;,]")
SEPARATOR = ";"
# Plain addresses (the vast majority) are accepted without the full validator, which costs
# ~50 µs each; the pattern admits only what email-validator also admits (tests compare them).
PLAIN_RE = re.compile(
    r"^[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
SPECIAL_USE_TLDS = {"arpa", "invalid", "local", "localhost", "onion", "test"}
MAX_LOCAL_PART = 64  # RFC 5321 4.5.3.1.1


def address(value: str) -> str:
    """`Cobranza@Cliente.COM.MX ` → `Cobranza@cliente.com.mx`; a bad address names itself.

    Non-ASCII mailbox names are refused: many receiving servers do not accept them (SMTPUTF8).
    """
    candidate = value.strip()
    if "=?" in candidate:  # an RFC 2047 encoded word: it could smuggle a line break into headers
        raise InvalidValue(f"correo no válido: '{candidate}'")
    if len(candidate) <= 254 and PLAIN_RE.match(candidate):
        local, _, domain = candidate.rpartition("@")
        if len(local) <= 64 and domain.rsplit(".", 1)[-1].lower() not in SPECIAL_USE_TLDS:
            return f"{local}@{domain.lower()}"
    try:
        checked = validate_email(candidate, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        raise InvalidValue(f"correo no válido: '{candidate}'") from None
    if len(checked.local_part) > MAX_LOCAL_PART:
        raise InvalidValue(
            f"correo no válido: '{candidate}' (más de {MAX_LOCAL_PART} caracteres antes de la @)"
        )
    return checked.normalized


def wire_form(value: str) -> str:
    """The address as SMTP and the To header carry it: an internationalised domain in IDNA
    (`pagos@peña.mx` → `pagos@xn--pea-8ma.mx`); the catalog keeps the form people typed.
    """
    if value.isascii():
        return value
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        raise InvalidValue(
            f"el correo '{value}' tiene caracteres que los servidores de correo no aceptan; "
            "corrígelo en el catálogo"
        ) from None
    return checked.ascii_email or value


def address_list(value: str) -> tuple[str, ...]:
    """`a@x.mx; B@Y.MX ,a@x.mx;` → `("a@x.mx", "B@y.mx")`: `;` or `,`, order kept, no repeats."""
    found: dict[str, str] = {}
    for part in SEPARATORS_RE.split(value):
        if part.strip():
            normalized = address(part)
            found.setdefault(normalized.lower(), normalized)
    if not found:
        raise InvalidValue("sin correos")
    return tuple(found.values())


def split(stored: str) -> tuple[str, ...]:
    """A list as stored (already checked) back to its addresses."""
    return tuple(part for part in stored.split(SEPARATOR) if part)


def join(addresses: tuple[str, ...]) -> str:
    return SEPARATOR.join(addresses)
