"""What the statement prints in each language, one table per language: the template
(`estado_cuenta.html`) takes its words from here, so both languages share one layout.

Money is `$1,234.56` in both. Dates are `DD/MM/YYYY` in Spanish (es-MX) and `MM/DD/YYYY` in
English (en-US, the US sociedad's customers). The aging rows are keyed by the Spanish names in
`lib.statements` (BUCKETS, CREDITS); only what is printed is translated.
"""

from __future__ import annotations

from datetime import date

from lib import languages, statements

LABELS: dict[str, dict[str, str]] = {
    languages.SPANISH: {
        "html_lang": "es",
        "date_format": "%d/%m/%Y",
        "tax_id": "RFC",
        "contact": "Dudas sobre este estado de cuenta:",
        "title": "Estado de cuenta al",
        "issued": "emitido el",
        "customer_no": "No. Cliente",
        "customer": "Cliente",
        "address": "Dirección",
        "no_balance": "Sin saldo:",
        "no_items": "no hay partidas abiertas al",
        "open_items": "Partidas abiertas",
        "doc_no": "Documento",
        "doc_type": "Tipo",
        "doc_date": "Fecha",
        "due_date": "Vencimiento",
        "reference": "Referencia",
        "days_overdue": "Días vencidos",
        "amount": "Importe",
        "open_amount": "Saldo",
        "currency": "Moneda",
        "total": "Total",
        "aging": "Antigüedad de saldos",
        "payment": "Datos para pago",
        "bank": "Banco",
        "account": "Cuenta",
        "clabe": "CLABE",
        "payment_reference": "Referencia",
        "quote_reference": "Al pagar, indique la referencia para que identifiquemos su pago.",
        "page": "Página",
        "of": "de",
        # The aging rows, by their key in lib.statements.
        **dict(zip(statements.BUCKETS, statements.BUCKETS, strict=True)),
        statements.CREDITS: statements.CREDITS,
    },
    languages.ENGLISH: {
        "html_lang": "en",
        "date_format": "%m/%d/%Y",
        "tax_id": "Tax ID",
        "contact": "Questions about this statement:",
        "title": "Account statement as of",
        "issued": "issued",
        "customer_no": "Customer No.",
        "customer": "Customer",
        "address": "Address",
        "no_balance": "No balance:",
        "no_items": "no open items as of",
        "open_items": "Open items",
        "doc_no": "Document",
        "doc_type": "Type",
        "doc_date": "Date",
        "due_date": "Due date",
        "reference": "Reference",
        "days_overdue": "Days overdue",
        "amount": "Amount",
        "open_amount": "Balance",
        "currency": "Currency",
        "total": "Total",
        "aging": "Aging",
        "payment": "Payment details",
        "bank": "Bank",
        "account": "Account",
        "clabe": "CLABE",
        "payment_reference": "Reference",
        "quote_reference": "When paying, please quote the reference so that we can identify "
        "your payment.",
        "page": "Page",
        "of": "of",
        **dict(
            zip(
                statements.BUCKETS,
                ("Not due", "1–30", "31–60", "61–90", "Over 90"),
                strict=True,
            )
        ),
        statements.CREDITS: "Credits / unapplied payments",
    },
}


def of(language: str) -> dict[str, str]:
    """The labels of `language`; Spanish for a code this table does not have."""
    return LABELS.get(language, LABELS[languages.DEFAULT])


def day(value: date, language: str) -> str:
    """`02/03/2020` in Spanish (2 March), `03/02/2020` in English."""
    return value.strftime(of(language)["date_format"])


def payment_rows(payment: statements.Payment, language: str) -> tuple[tuple[str, str], ...]:
    """Datos para pago's (label, value) pairs in `language`, without the empty ones."""
    words = of(language)
    return tuple((words[field], value) for field, value in payment.fields)
