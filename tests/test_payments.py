import pytest

from lib import payments
from lib.normalize import InvalidValue

# By hand, for 032180000118359719 (the CLABE of Wikipedia's "CLABE" article): the first 17
# digits 0 3 2 1 8 0 0 0 0 1 1 8 3 5 9 7 1 times 3 7 1 3 7 1…, each product mod 10, are
# 0 1 2 3 6 0 0 0 0 3 7 8 9 5 9 1 7, which sum 61; (10 - 61 mod 10) mod 10 = 9, its last digit.
CHECK_DIGITS = [
    ("00201007777777777", 1),  # Banamex's published example 002010077777777771
    ("03218000011835971", 9),  # 032180000118359719
    ("01218000118359012", 4),  # the demo's SM02
    ("07258000456789012", 6),  # the demo's SM05
    ("00000000000000000", 0),  # sum 0: the complement of 10 is 0, not 10
    ("10000000000000000", 7),  # 1×3 = 3 → 7
    ("01000000000000000", 3),  # 1×7 = 7 → 3
    ("00100000000000000", 9),  # 1×1 = 1 → 9
]


@pytest.mark.parametrize(("first_17", "digit"), CHECK_DIGITS)
def test_the_clabe_check_digit_is_banxicos(first_17: str, digit: int) -> None:
    assert payments.clabe_check_digit(first_17) == digit


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("002010077777777771", "002010077777777771"),
        ("032180000118359719", "032180000118359719"),
        (" 032 180 00011835971 9 ", "032180000118359719"),
        ("032-180-00011835971-9", "032180000118359719"),
        ("000000000000000000", "000000000000000000"),
        ("", ""),
        ("  ", ""),
        (None, ""),
    ],
)
def test_a_valid_clabe_is_kept_as_its_18_digits(value: object, expected: str) -> None:
    assert payments.clabe(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("032180000118359718", "CLABE '032180000118359718' no válida: el dígito verificador no"),
        ("002010077777777770", "el dígito verificador no coincide"),
        ("03218000011835971", "CLABE '03218000011835971' no válida: debe tener 18 dígitos"),
        ("0321800001183597190", "debe tener 18 dígitos \\(tiene 19\\)"),
        ("03218000011835971A", "CLABE '03218000011835971A' no válida: debe tener 18 dígitos"),
        ("O32180000118359719", "sin letras ni signos"),  # a letter O for the zero
        ("032.180.000118359719", "sin letras ni signos"),
        ("０３２１８００００１１８３５９７１９", "sin letras ni signos"),  # full-width digits
        (32180000118359719, "llegó como número"),  # Excel dropped the leading 0
        (3.2180000118359719e16, "da formato de texto a la columna CLABE"),
    ],
)
def test_a_bad_clabe_is_refused_naming_itself(value: object, message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        payments.clabe(value)


def test_a_clabe_message_never_echoes_a_line_break() -> None:
    with pytest.raises(InvalidValue) as raised:
        payments.clabe("032180000118359719\r\nBcc: x@evil.example")
    assert "\r" not in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("cobranza@bajio.example", "cobranza@bajio.example"),
        (" Cobranza@Bajio.EXAMPLE ", "Cobranza@bajio.example"),
        ("", ""),
        (None, ""),
    ],
)
def test_the_reply_to_address_is_checked_like_a_catalog_address(value, expected) -> None:
    assert payments.reply_to(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("cobranza", "correo no válido: 'cobranza'"),
        ("cobranza@bajio", "correo no válido"),
        ("a@bajio.example; b@bajio.example", r"\(solo un correo\)"),
        ("a@bajio.example, b@bajio.example", r"\(solo un correo\)"),
        ("Cobranza <a@bajio.example>", "correo no válido"),
        ("a@bajio.example\r\nBcc: x@evil.example", "saltos de línea"),
        ("a@bajio.example\nBcc: x@evil.example", "saltos de línea"),
        ("a@bajio.example\u2028Bcc: x@evil.example", "saltos de línea"),
        ("=?utf-8?q?a@bajio.example=0D=0ABcc:_x@evil.example?=", "correo no válido"),
    ],
)
def test_a_bad_reply_to_address_is_refused(value: str, message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        payments.reply_to(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("NoCliente", "customer_no"),
        ("No. Cliente", "customer_no"),
        ("no cliente", "customer_no"),
        ("RFC", "tax_id"),
        ("rfc ", "tax_id"),
        ("", "customer_no"),
        (None, "customer_no"),
    ],
)
def test_the_payment_reference_is_the_no_cliente_or_the_rfc(value, expected) -> None:
    assert payments.reference(value) == expected


def test_another_payment_reference_is_refused() -> None:
    with pytest.raises(InvalidValue, match="Referencia 'Factura' no válida: usa NoCliente o RFC"):
        payments.reference("Factura")
