"""Cell values users type, paste and import, turned into the typed values lib works with.

Excel hands the same customer over as `1006210`, `0001006210`, `1006210.0` or ` 1006210 `;
every entry point (paste, upload, CLI, search) goes through these functions so they all meet
the same row in the database. Amounts become `Decimal` and dates `date`, never floats or text.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

COMPANY_CODE_RE = re.compile(r"^[A-Z0-9]{1,10}$")
CUSTOMER_NO_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,19}$")
INTEGRAL_FLOAT_RE = re.compile(r"^(\d+)\.0*$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
DAY_FIRST_RE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
YEAR_FIRST_RE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})(?:[ T]00:00(?::00)?)?$")
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1e13")


class InvalidValue(ValueError):
    """A value a user supplied cannot be used; the message says why, in Spanish."""


def text(value: object) -> str:
    """A cell as clean text: None is empty, line breaks and runs of spaces become one space."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def company_code(value: object) -> str:
    """`sm02 ` → `SM02`."""
    code = _integral(text(value)).upper()
    if not code:
        raise InvalidValue("Sociedad vacía")
    if not COMPANY_CODE_RE.match(code):
        raise InvalidValue(f"Sociedad '{code}' no válida (solo letras y números, máximo 10)")
    return code


def customer_no(value: object) -> str:
    """`0001006210`, `1006210.0`, ` 1006210 ` → `1006210` (SAP drops leading zeros)."""
    raw = _integral(text(value)).upper()
    if not raw:
        raise InvalidValue("No. Cliente vacío")
    if "E+" in raw and _is_number(raw):
        raise InvalidValue(
            f"No. Cliente '{raw}' llegó en notación científica; "
            "da formato de texto a la columna en Excel"
        )
    if raw.isdigit():
        raw = raw.lstrip("0")
        if not raw:
            raise InvalidValue("No. Cliente no puede ser cero")
    if not CUSTOMER_NO_RE.match(raw):
        raise InvalidValue(f"No. Cliente '{raw}' no válido")
    return raw


def amount(value: object) -> Decimal:
    """`1,234.56`, `$1,234.56`, `(1,234.56)`, SAP's `1234.56-` and Excel numbers → `Decimal`."""
    if isinstance(value, bool):
        raise InvalidValue(f"importe no válido: '{value}'")
    if isinstance(value, Decimal | int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    else:
        number = _amount_text(text(value))
    if not number.is_finite():
        raise InvalidValue(f"importe no válido: '{value}'")
    if abs(number) >= MAX_AMOUNT:  # also what the database's integer cents could not hold
        shown = text(value)[:30] + ("…" if len(text(value)) > 30 else "")
        raise InvalidValue(f"importe fuera de rango: '{shown}' (máximo {MAX_AMOUNT:,.0f})")
    if number != number.quantize(CENT):
        raise InvalidValue(f"importe con más de dos decimales: '{text(value)}'")
    return number.quantize(CENT)


def _amount_text(raw: str) -> Decimal:
    if not raw:
        raise InvalidValue("importe vacío")
    cleaned = raw.replace("$", "").replace(",", "").replace(" ", "")
    negative = False
    if cleaned.startswith("(") and cleaned.endswith(")"):
        cleaned, negative = cleaned[1:-1], True
    elif cleaned.endswith("-"):
        cleaned, negative = cleaned[:-1], True
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidValue(f"importe no válido: '{raw}'") from None
    return -number if negative else number


def day(value: object) -> date:
    """An Excel date cell, or text as `02/03/2020` (día/mes/año), `2020-03-02` or `20200302`."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raw = _integral(text(value))
    if not raw:
        raise InvalidValue("fecha vacía")
    if match := DAY_FIRST_RE.match(raw):
        day_, month, year = match.groups()
    elif match := YEAR_FIRST_RE.match(raw):
        year, month, day_ = match.groups()
    else:
        raise InvalidValue(f"fecha no válida: '{raw}' (usa dd/mm/aaaa)")
    try:
        return date(int(year), int(month), int(day_))
    except ValueError:
        raise InvalidValue(f"fecha no válida: '{raw}' (usa dd/mm/aaaa)") from None


def currency(value: object) -> str:
    """`mxn ` → `MXN`; ISO 4217 style three-letter codes only."""
    code = text(value).upper()
    if not CURRENCY_RE.match(code):
        raise InvalidValue(f"moneda no válida: '{code}' (usa un código de 3 letras como MXN)")
    return code


def fold(value: object) -> str:
    """Lower case without accents, for matching what people type: `Peña` and `PENA` agree."""
    decomposed = unicodedata.normalize("NFKD", text(value))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def header_key(value: object) -> str:
    """A column title reduced for matching: `No. Cliente`, `NOCLIENTE`, `no_cliente` agree."""
    return re.sub(r"[^a-z0-9]", "", fold(value))


def _integral(raw: str) -> str:
    match = INTEGRAL_FLOAT_RE.match(raw)
    return match.group(1) if match else raw


def _is_number(raw: str) -> bool:
    try:
        Decimal(raw)
    except InvalidOperation:
        return False
    return True
