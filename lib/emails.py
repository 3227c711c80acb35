"""Email address syntax, checked the same way wherever an address enters the system."""

from __future__ import annotations

import re

from lib.normalize import InvalidValue

LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MAX_ADDRESS_LENGTH = 254


def address(value: str) -> str:
    """`Cobranza@Cliente.COM.MX ` → `Cobranza@cliente.com.mx`; a bad address names itself."""
    candidate = value.strip()
    local, at, domain = candidate.rpartition("@")
    domain = domain.lower()
    labels = domain.split(".")
    valid = (
        at
        and len(candidate) <= MAX_ADDRESS_LENGTH
        and len(local) <= 64
        and LOCAL_RE.match(local)
        and len(labels) >= 2
        and all(LABEL_RE.match(label) for label in labels)
        and not labels[-1].isdigit()
    )
    if not valid:
        raise InvalidValue(f"correo no válido: '{candidate}'")
    return f"{local}@{domain}"
