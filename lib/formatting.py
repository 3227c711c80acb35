"""es-MX display formats: `$1,234,567.89`, `02/03/2020`. Values stay typed until shown."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

CENT = Decimal("0.01")


def money(amount: Decimal) -> str:
    """Rounded to the cent only here, for display; negative amounts as `-$1,234.56`."""
    rounded = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "-" if rounded < 0 else ""
    return f"{sign}${abs(rounded):,.2f}"


def balances(by_currency: Mapping[str, Decimal]) -> str:
    """`{"MXN": 10, "USD": 5}` → `MXN $10.00 · USD $5.00`; currencies are never added up."""
    return " · ".join(f"{cur} {money(by_currency[cur])}" for cur in sorted(by_currency))


def day(value: date) -> str:
    return value.strftime("%d/%m/%Y")


def moment(value: datetime, zone: ZoneInfo) -> str:
    """A stored UTC time as the user's local `dd/mm/aaaa hh:mm`."""
    return value.astimezone(zone).strftime("%d/%m/%Y %H:%M")


def sentence(text: str) -> str:
    """A lib message (`el cliente 42 no existe`) as shown on screen (`El cliente 42 no existe.`)."""
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def plural(n: int, singular: str, many: str = "") -> str:
    """Spanish agreement: only 1 takes the singular (`0 filas`, `1 fila`, `2 filas`).

    Without `many`, the first word takes the regular plural (`fila con error` → `filas con
    error`, `error` → `errores`); pass `many` for anything else (`se grabó` → `se grabaron`).
    """
    if n == 1:
        return singular
    if many:
        return many
    first, space, rest = singular.partition(" ")
    ending = "s" if first[-1:].lower() in "aeiouáéó" else "es"
    return f"{first}{ending}{space}{rest}"


def count(n: int, singular: str, many: str = "") -> str:
    """A number with its noun in agreement, for sentences: `1 nuevo`, `2 nuevos`."""
    return f"{n:,} {plural(n, singular, many)}"
