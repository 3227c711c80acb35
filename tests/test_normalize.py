from datetime import date, datetime
from decimal import Decimal

import pytest
from email_validator import EmailNotValidError, validate_email

from lib import emails, normalize


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1006210", "1006210"),
        ("0001006210", "1006210"),
        ("1006210.0", "1006210"),
        (" 1006210 ", "1006210"),
        (1006210, "1006210"),
        (1006210.0, "1006210"),
        ("c-1000", "C-1000"),
    ],
)
def test_customer_numbers_pasted_differently_are_one_customer(value: object, expected: str) -> None:
    assert normalize.customer_no(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "No. Cliente vacío"),
        (None, "No. Cliente vacío"),
        ("0000", "no puede ser cero"),
        ("1006210.5", "no válido"),
        ("1.00621E+06", "notación científica"),
        ("10 06", "no válido"),
    ],
)
def test_bad_customer_numbers_say_why(value: object, message: str) -> None:
    with pytest.raises(normalize.InvalidValue, match=message):
        normalize.customer_no(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("sm02 ", "SM02"), (" SM02", "SM02"), (1000, "1000"), ("1000.0", "1000")],
)
def test_company_codes_are_upper_case_and_trimmed(value: object, expected: str) -> None:
    assert normalize.company_code(value) == expected


@pytest.mark.parametrize("value", ["", "SM 02", "SOCIEDAD-LARGA", "sm#2"])
def test_bad_company_codes_are_refused(value: str) -> None:
    with pytest.raises(normalize.InvalidValue, match="Sociedad"):
        normalize.company_code(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1,234.56", Decimal("1234.56")),
        ("$1,234,567.89", Decimal("1234567.89")),
        ("(1,234.56)", Decimal("-1234.56")),
        ("1234.56-", Decimal("-1234.56")),
        ("-0.5", Decimal("-0.50")),
        (1234.56, Decimal("1234.56")),
        (0.1 + 0.2, None),
        (100, Decimal("100.00")),
        (Decimal("7.1"), Decimal("7.10")),
    ],
)
def test_amounts_become_exact_decimals(value: object, expected: Decimal | None) -> None:
    if expected is None:
        with pytest.raises(normalize.InvalidValue, match="más de dos decimales"):
            normalize.amount(value)
    else:
        assert normalize.amount(value) == expected


@pytest.mark.parametrize(
    "value",
    ["1E+400", "12345678901234567890123", "(1E+20)", "-1e13", 1e308, Decimal("1E+999999"),
     "9" * 40 + ".5", 10**30],
)  # fmt: skip
def test_amounts_out_of_range_are_a_row_error_not_a_crash(value: object) -> None:
    with pytest.raises(normalize.InvalidValue, match="importe fuera de rango"):
        normalize.amount(value)


def test_the_largest_amount_a_statement_holds_is_taken() -> None:
    assert normalize.amount("-9,999,999,999,999.99") == Decimal("-9999999999999.99")


@pytest.mark.parametrize("value", ["", "abc", "1.2.3", "nan", "inf", True])
def test_bad_amounts_are_refused(value: object) -> None:
    with pytest.raises(normalize.InvalidValue):
        normalize.amount(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("02/03/2020", date(2020, 3, 2)),
        ("2/3/2020", date(2020, 3, 2)),
        ("02.03.2020", date(2020, 3, 2)),
        ("2020-03-02", date(2020, 3, 2)),
        ("20200302", date(2020, 3, 2)),
        ("2020-03-02 00:00:00", date(2020, 3, 2)),
        (datetime(2020, 3, 2, 13, 5), date(2020, 3, 2)),
        (date(2020, 3, 2), date(2020, 3, 2)),
    ],
)
def test_dates_are_read_day_first(value: object, expected: date) -> None:
    assert normalize.day(value) == expected


@pytest.mark.parametrize("value", ["", "31/02/2020", "03-2020", "mañana"])
def test_bad_dates_are_refused(value: str) -> None:
    with pytest.raises(normalize.InvalidValue, match="fecha"):
        normalize.day(value)


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("No. Cliente", "nocliente"),
        ("NOCLIENTE", "nocliente"),
        ("Dirección", "direccion"),
        (" Fecha_Vencimiento ", "fechavencimiento"),
        ("Año", "ano"),
    ],
)
def test_headers_match_ignoring_case_accents_and_punctuation(header: str, key: str) -> None:
    assert normalize.header_key(header) == key


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("pagos@empresa.example", "pagos@empresa.example"),
        ("pagos@peña.mx", "pagos@xn--pea-8ma.mx"),
        ("Cobranza@Añil.Bücher.mx", "Cobranza@xn--ail-7ma.xn--bcher-kva.mx"),
    ],
)
def test_an_internationalised_domain_goes_on_the_wire_in_idna(value: str, wire: str) -> None:
    assert emails.wire_form(emails.address(value)) == wire


def test_an_address_without_a_wire_form_says_so() -> None:
    with pytest.raises(normalize.InvalidValue, match="caracteres que los servidores"):
        emails.wire_form("josé@x.mx")


def test_text_cleans_line_breaks_and_spaces() -> None:
    assert normalize.text("  PEÑA &\n HIJOS  ") == "PEÑA & HIJOS"
    assert normalize.text(None) == ""
    assert normalize.text(12.0) == "12"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Cobranza@Cliente.COM.MX", "Cobranza@cliente.com.mx"),
        (" pagos@empresa.example ", "pagos@empresa.example"),
        ("a.b+c@sub-dominio.mx", "a.b+c@sub-dominio.mx"),
    ],
)
def test_email_addresses_are_normalised(value: str, expected: str) -> None:
    assert emails.address(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "sin-arroba",
        "a@b",
        "a@@b.mx",
        "a b@c.mx",
        "a@dominio..mx",
        ".a@b.mx",
        "a@b.123",
        "=?utf-8?q?=0D=0ABcc:x@evil?=@x.mx",
        f"{'a' * 65}@x.mx",  # RFC 5321: at most 64 before the @
        f"{'a' * 40}.{'b' * 30}@x.mx",
        "josé@x.mx",  # a non-ASCII mailbox name needs SMTPUTF8, which many servers lack
    ],
)
def test_bad_email_addresses_name_themselves(value: str) -> None:
    with pytest.raises(normalize.InvalidValue, match="correo no válido"):
        emails.address(value)


SAMPLES = [
    "a@x.mx",
    "Cobranza@Cliente.COM.MX",
    "a.b+c@sub-dominio.mx",
    "a_b%c@x.mx",
    "a@x.localhost",
    "a@x.test",
    "a@x.invalid",
    "x@y.example",
    "a..b@x.mx",
    ".a@x.mx",
    "a.@x.mx",
    "a@-x.mx",
    "a@x-.mx",
    "a@x.m",
    "a@x.123",
    "a@" + "x" * 64 + ".mx",
    "l" * 65 + "@x.mx",
    "o'brien@x.mx",
    "ñ@x.mx",
    "a@ñandú.mx",
    "a b@x.mx",
    "a@x..mx",
    "A@X.MX",
    "a@x.co.uk",
]


@pytest.mark.parametrize("value", SAMPLES)
def test_the_fast_path_agrees_with_email_validator(value: str) -> None:
    try:
        expected = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        with pytest.raises(normalize.InvalidValue):
            emails.address(value)
    else:
        if len(expected.local_part) > emails.MAX_LOCAL_PART:  # stricter: RFC 5321's limit
            with pytest.raises(normalize.InvalidValue):
                emails.address(value)
            return
        assert emails.address(value) == expected.normalized
