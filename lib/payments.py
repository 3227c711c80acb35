"""A sociedad's payment details and contact, checked wherever they enter the system.

The CLABE (Clave Bancaria Estandarizada) is the 18-digit number a Mexican bank transfer goes
to: 3 digits of bank, 3 of plaza, 11 of account and a check digit, which Banxico computes from
the first 17 with the weights 3, 7, 1 repeated (each product mod 10, the sum mod 10, and its
complement to 10). A mistyped CLABE is caught here, not by a customer's transfer bouncing.

Every value may be empty: a sociedad without payment details prints no "Datos para pago".
"""

from __future__ import annotations

import re

from lib import emails, normalize
from lib.normalize import InvalidValue

CLABE_LENGTH = 18
CLABE_WEIGHTS = (3, 7, 1)
CLABE_SEPARATORS_RE = re.compile(r"[\s-]+")

# Which of the customer's values they quote as the payment's reference.
CUSTOMER_NO = "customer_no"
TAX_ID = "tax_id"
REFERENCES = {"nocliente": CUSTOMER_NO, "cliente": CUSTOMER_NO, "rfc": TAX_ID}


def clabe_check_digit(first_17: str) -> int:
    """Banxico's check digit of the first 17 digits of a CLABE."""
    total = sum(int(digit) * CLABE_WEIGHTS[index % 3] % 10 for index, digit in enumerate(first_17))
    return (10 - total % 10) % 10


def clabe(value: object) -> str:
    """`012 180-00123456789 9` → `012180001234567899`; "" for an empty cell.

    A number cell is refused: Excel keeps 15 significant digits and drops the leading 0 that
    most CLABEs have, so what it hands over is no longer the customer's CLABE.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise InvalidValue(
            f"CLABE '{normalize.text(value)}' no válida: llegó como número y Excel le cambia "
            "los dígitos; da formato de texto a la columna CLABE"
        )
    shown = _shown(value)
    digits = CLABE_SEPARATORS_RE.sub("", normalize.text(value))
    if not digits:
        return ""
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidValue(
            f"CLABE '{shown}' no válida: debe tener {CLABE_LENGTH} dígitos, sin letras ni signos"
        )
    if len(digits) != CLABE_LENGTH:
        raise InvalidValue(
            f"CLABE '{shown}' no válida: debe tener {CLABE_LENGTH} dígitos (tiene {len(digits)})"
        )
    if clabe_check_digit(digits[:-1]) != int(digits[-1]):
        raise InvalidValue(f"CLABE '{shown}' no válida: el dígito verificador no coincide")
    return digits


def reply_to(value: object) -> str:
    """The sociedad's contact address, checked like a catalog address; "" for none.

    It becomes the statement email's Reply-To header, so only one plain address is taken: no
    list, no display name, no line break.
    """
    shown = value.strip() if isinstance(value, str) else normalize.text(value)
    if not shown:
        return ""
    if not shown.isprintable():  # CR, LF, U+2028…: refused, and never echoed raw
        raise InvalidValue("correo no válido: tiene saltos de línea o caracteres de control")
    if any(separator in shown for separator in ";,"):
        raise InvalidValue(f"correo no válido: '{shown}' (solo un correo)")
    return emails.address(shown)


def reference(value: object) -> str:
    """Which value of the customer is the payment reference: `NoCliente`/`No. Cliente` →
    `customer_no`, `RFC` → `tax_id`; an empty cell is the No. Cliente."""
    key = normalize.header_key(value)
    if not key:
        return CUSTOMER_NO
    if key not in REFERENCES:
        raise InvalidValue(f"Referencia '{_shown(value)}' no válida: usa NoCliente o RFC")
    return REFERENCES[key]


def _shown(value: object, limit: int = 30) -> str:
    """A value as an error message quotes it: one line, printable, not too long."""
    text = "".join(ch if ch.isprintable() else "?" for ch in normalize.text(value))
    return text[:limit] + ("…" if len(text) > limit else "")
