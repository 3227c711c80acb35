"""A realistic demo data set: sociedades, ~500 Mexican customers, open items, catalog entries.

Deterministic for a given seed and reference date: the same call builds the same rows, so a
screenshot or a test can rely on them. Dates are relative to the reference date (today by
default) so that every aging bucket is populated whenever the demo is loaded.
"""

from __future__ import annotations

import random
import re
import shutil
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from lib import languages
from lib.models import Company, Customer, OpenItem, Recipient, search_name, utcnow
from lib.statements import pdf

SEED = 20200302
DEMO_USER = "demo"

COMPANIES = (
    # code, name, RFC, address, currency, customers, share of customers billed in USD
    (
        "SM02",
        "Soluciones Hidráulicas del Bajío, S.A. de C.V.",
        "SHB950612AB3",
        "Av. Constituyentes 1020, Col. El Pueblito, Corregidora, Querétaro, C.P. 76900",
        "MXN",
        250,
        0.0,
    ),
    (
        "SM05",
        "Tuberías y Conexiones Peñasco, S. de R.L. de C.V.",
        "TCP010930KJ8",
        "Blvd. Díaz Ordaz 455 Pte., Col. Santa María, Monterrey, Nuevo León, C.P. 64650",
        "MXN",
        170,
        0.2,
    ),
    (
        "SU01",
        "Aqua Systems Holdings USA, Inc.",
        "",
        "2100 N Loop W, Suite 310, Houston, TX 77018, USA",
        "USD",
        80,
        1.0,
    ),
)
# Datos para pago, contact and sender of each sociedad: SM05's customers quote their RFC, the
# others their No. Cliente; the US one has a bank account but no CLABE. SM02 sends from its own
# mailbox with the open items as Excel; SU01 under its own name from MAIL_FROM's address.
PAYMENT_DETAILS = {
    "SM02": {
        "reply_to": "cobranza@solucioneshidraulicas.example",
        "bank": "BBVA México",
        "account": "0118359012",
        "clabe": "012180001183590124",
        "payment_reference": "customer_no",
        "sender_name": "Cobranza Soluciones Hidráulicas",
        "sender_email": "cobranza@solucioneshidraulicas.example",
        "attach_open_items": True,
    },
    "SM05": {
        "reply_to": "cobranza@tuberiaspenasco.example",
        "bank": "Banorte",
        "account": "0456789012",
        "clabe": "072580004567890126",
        "payment_reference": "tax_id",
    },
    "SU01": {
        "reply_to": "collections@aquasystems.example",
        "bank": "Bank of America",
        "account": "4381 2290 7765",
        "clabe": "",
        "payment_reference": "customer_no",
        "sender_name": "Aqua Systems Collections",
    },
}
# The demo sociedades' logos, copied into DATA_DIR/logos with the demo data.
LOGOS_DIR = Path(__file__).resolve().parent / "demo_logos"
MANUAL_CUSTOMERS = ("1006210", "1004273")
# The US sociedad's customers get their statement and email in English; the others in Spanish.
LANGUAGES = {"SU01": languages.ENGLISH}

ACTIVITIES = (
    "FERRETERÍA",
    "DISTRIBUIDORA",
    "MATERIALES PARA CONSTRUCCIÓN",
    "PLOMERÍA Y SANITARIOS",
    "CONSTRUCCIONES",
    "AGRO EQUIPOS",
    "COMERCIALIZADORA",
    "TLAPALERÍA",
    "SUMINISTROS INDUSTRIALES",
    "RIEGO Y BOMBEO",
    "GRUPO CONSTRUCTOR",
    "IMPULSORA",
)
QUALIFIERS = (
    "LA ESPAÑOLA",
    "DEL NORTE",
    "DEL BAJÍO",
    "PEÑA & HIJOS",
    "MUÑOZ",
    "DE LA LAGUNA",
    "OCHOA & ASOCIADOS",
    "EL CAÑÓN",
    "SAN JOSÉ",
    "IBARRA",
    "DEL PACÍFICO",
    "NÚÑEZ HERMANOS",
    "LOS ÁNGELES",
    "TÉLLEZ",
    "DEL SURESTE",
    "ZUÑIGA",
    "LA PIRÁMIDE",
    "GARCÍA & CÍA",
)
SUFFIXES = ("SA DE CV", "S DE RL DE CV", "SAPI DE CV", "SC")
US_SUFFIXES = ("INC", "LLC", "CORP")
US_WORDS = ("RIO GRANDE", "LONE STAR", "BORDER", "GULF COAST", "SUN BELT", "PECOS", "ALAMO")
US_ACTIVITIES = ("PLUMBING SUPPLY", "IRRIGATION", "BUILDING MATERIALS", "WATER SYSTEMS")
FIRST_NAMES = ("JOSÉ LUIS", "MARÍA", "FELIPE", "ÁNGELA", "JESÚS", "SOFÍA", "RAÚL", "NOÉ", "INÉS")
SURNAMES = ("BARRERA", "MALDONADO", "NÚÑEZ", "ORTIZ", "PEÑA", "GÓMEZ", "MUÑOZ", "ÁLVAREZ", "SOLÍS")
STREETS = ("Av. Juárez", "Calle Hidalgo", "Blvd. Morelos", "Calle 5 de Mayo", "Av. Reforma")
CITIES = (
    ("Querétaro", "Querétaro", "76"),
    ("León", "Guanajuato", "37"),
    ("Monterrey", "Nuevo León", "64"),
    ("Mérida", "Yucatán", "97"),
    ("Torreón", "Coahuila", "27"),
    ("Culiacán", "Sinaloa", "80"),
    ("Zapopan", "Jalisco", "45"),
)
COLONIAS = ("Centro", "Jardines", "Industrial", "Las Águilas", "San Ángel", "La Cañada")
SPECIAL_NAME = "AGUA & MÁS <EXPRESS> SA DE CV"
TERMS_DAYS = (15, 30, 45, 60)
RFC_CHARS = "ABCDEFGHIJKLMNPQRSTUVWXYZ0123456789"


@dataclass
class DemoData:
    companies: list[dict] = field(default_factory=list)
    customers: list[dict] = field(default_factory=list)
    open_items: list[dict] = field(default_factory=list)
    recipients: list[dict] = field(default_factory=list)


def build(today: date, seed: int = SEED) -> DemoData:
    """Build the demo rows in memory; `load()` writes them."""
    rng = random.Random(seed)
    data = DemoData()
    used_names: set[str] = set()
    for code, name, rfc, address, currency, count, usd_share in COMPANIES:
        data.companies.append(
            {
                "code": code,
                "name": name,
                "tax_id": rfc,
                "address": address,
                "currency": currency,
                **PAYMENT_DETAILS[code],
            }
        )
        numbers = _customer_numbers(rng, code, count)
        for index, number in enumerate(numbers):
            customer_name = _unique_name(rng, used_names, us=currency == "USD", first=index == 0)
            customer_currency = "USD" if rng.random() < usd_share else "MXN"
            data.customers.append(
                {
                    "company_code": code,
                    "customer_no": number,
                    "name": customer_name,
                    "tax_id": _rfc(rng, customer_name, currency),
                    "address": _address(rng, currency),
                    "language": LANGUAGES.get(code, languages.SPANISH),
                }
            )
            data.open_items += _open_items(rng, code, number, customer_currency, today)
            if rng.random() < (0.3 if currency == "USD" else 0.45) or number in MANUAL_CUSTOMERS:
                data.recipients.append(_recipient(rng, code, number, customer_name))
    return data


def load(session: Session, today: date | None = None, seed: int = SEED) -> DemoData:
    """Insert the demo rows; the caller commits. Refuses a database that already has sociedades."""
    if not is_empty(session):
        raise ValueError("la base de datos ya tiene sociedades; el demo solo se carga en una vacía")
    data = build(today or date.today(), seed)
    now = utcnow()
    session.execute(insert(Company), data.companies)
    session.execute(
        insert(Customer),
        [{**c, "search_name": search_name(c["name"]), "updated_at": now} for c in data.customers],
    )
    session.execute(insert(OpenItem), data.open_items)
    session.execute(
        insert(Recipient),
        [
            {
                **r,
                "created_by": DEMO_USER,
                "updated_by": DEMO_USER,
                "created_at": now,
                "updated_at": now,
            }
            for r in data.recipients
        ],
    )
    return data


def install_logos(data_dir: Path) -> list[Path]:
    """SM02's logo into DATA_DIR/logos, so the demo's statements and emails show one; a logo
    already there (someone's own) is left alone."""
    installed = []
    for source in sorted(LOGOS_DIR.glob("*.png")):
        target = data_dir / "logos" / source.name
        if not any(target.with_suffix(s).exists() for s in pdf.LOGO_SUFFIXES):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            installed.append(target)
    return installed


def is_empty(session: Session) -> bool:
    return session.scalar(select(Company.code).limit(1)) is None


def _customer_numbers(rng: random.Random, code: str, count: int) -> list[str]:
    base = {"SM02": 1_000_000, "SM05": 2_000_000, "SU01": 3_000_000}[code]
    numbers = set(MANUAL_CUSTOMERS) if code == "SM02" else set()
    while len(numbers) < count:
        numbers.add(str(base + rng.randrange(1, 9_999)))
    return sorted(numbers)


def _unique_name(rng: random.Random, used: set[str], *, us: bool, first: bool) -> str:
    if first and not us and SPECIAL_NAME not in used:
        used.add(SPECIAL_NAME)
        return SPECIAL_NAME
    while True:
        name = _name(rng, us)
        if name not in used:
            used.add(name)
            return name


def _name(rng: random.Random, us: bool) -> str:
    if us:
        return f"{rng.choice(US_WORDS)} {rng.choice(US_ACTIVITIES)} {rng.choice(US_SUFFIXES)}"
    if rng.random() < 0.15:
        return f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)} {rng.choice(SURNAMES)}"
    return f"{rng.choice(ACTIVITIES)} {rng.choice(QUALIFIERS)} {rng.choice(SUFFIXES)}"


def _rfc(rng: random.Random, name: str, currency: str) -> str:
    """Shape of a Mexican RFC: 3 letters (4 for a person), birth/constitution date, homoclave."""
    if currency == "USD":
        return ""
    letters = [c for c in _ascii(name).upper() if c.isalpha()]
    prefix_length = 4 if not any(s in name for s in SUFFIXES) else 3
    prefix = "".join(letters[:prefix_length]).ljust(prefix_length, "X")
    born = date(1960, 1, 1) + timedelta(days=rng.randrange(0, 20_000))
    return prefix + born.strftime("%y%m%d") + "".join(rng.choice(RFC_CHARS) for _ in range(3))


def _address(rng: random.Random, currency: str) -> str:
    if currency == "USD":
        return f"{rng.randrange(100, 9999)} Commerce St, San Antonio, TX 78205, USA"
    city, state, cp = rng.choice(CITIES)
    return (
        f"{rng.choice(STREETS)} {rng.randrange(1, 2500)}, Col. {rng.choice(COLONIAS)}, "
        f"{city}, {state}, C.P. {cp}{rng.randrange(0, 999):03d}"
    )


def _open_items(
    rng: random.Random, code: str, number: str, currency: str, today: date
) -> list[dict]:
    roll = rng.random()
    if roll < 0.12:
        return []
    if roll < 0.17:
        return _settled_pair(rng, code, number, currency, today)
    items = []
    for _ in range(rng.randrange(1, 11)):
        doc_date = today - timedelta(days=rng.randrange(-3, 200))
        kind = rng.choices(("Factura", "Nota de crédito", "Pago"), weights=(80, 12, 8))[0]
        items.append(_item(rng, code, number, currency, kind, doc_date))
    return items


def _settled_pair(
    rng: random.Random, code: str, number: str, currency: str, today: date
) -> list[dict]:
    """An invoice and a payment that cancel out: the customer's balance is zero."""
    invoice = _item(rng, code, number, currency, "Factura", today - timedelta(days=20))
    payment = _item(rng, code, number, currency, "Pago", today - timedelta(days=5))
    payment["amount"] = payment["open_amount"] = -invoice["open_amount"]
    return [invoice, payment]


def _item(
    rng: random.Random, code: str, number: str, currency: str, kind: str, doc_date: date
) -> dict:
    top = 50_000_00 if currency == "USD" else 500_000_00
    amount = Decimal(rng.randrange(500_00, top)) / 100
    if kind == "Factura":
        open_amount = (
            amount if rng.random() < 0.8 else (amount * Decimal("0.4")).quantize(Decimal("0.01"))
        )
        due = doc_date + timedelta(days=rng.choice(TERMS_DAYS))
        reference = f"A-{rng.randrange(10_000, 99_999)}"
    else:
        amount = -(amount / 5).quantize(Decimal("0.01"))
        open_amount = amount
        due = doc_date
        reference = (
            "NC-" + str(rng.randrange(1_000, 9_999)) if kind == "Nota de crédito" else "TRANSF"
        )
    prefix = {"Factura": "90", "Nota de crédito": "17", "Pago": "14"}[kind]
    return {
        "company_code": code,
        "customer_no": number,
        "doc_no": f"{prefix}{rng.randrange(10_000_000, 99_999_999)}",
        "doc_type": kind,
        "doc_date": doc_date,
        "due_date": due,
        "reference": reference,
        "amount": amount,
        "open_amount": open_amount,
        "currency": currency,
    }


def _recipient(rng: random.Random, code: str, number: str, name: str) -> dict:
    domain = _slug(name) + ".example"
    boxes = rng.sample(
        ("cobranza", "pagos", "cuentasporpagar", "tesoreria", "contabilidad"), k=rng.randrange(1, 4)
    )
    return {
        "company_code": code,
        "customer_no": number,
        "emails": ";".join(f"{box}@{domain}" for box in boxes),
    }


def _ascii(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _slug(name: str) -> str:
    words = [w for w in re.split(r"[^a-z0-9]+", _ascii(name).lower()) if w]
    legal = {"sa", "de", "cv", "rl", "s", "sapi", "sc", "inc", "llc", "corp", "la", "el", "del"}
    kept = [w for w in words if w not in legal][:3] or words[:1]
    return "-".join(kept)
