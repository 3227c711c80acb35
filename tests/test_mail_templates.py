from pathlib import Path

import pytest

from lib import mail_templates, templating
from lib.mail_templates import Problem

DEFAULTS = sorted(
    path
    for pattern in ("correo_asunto*.txt", "correo_cuerpo*")
    for path in templating.TEMPLATES_DIR.glob(pattern)
)


def messages(source: str, *, html: bool = False) -> list[str]:
    return [str(problem) for problem in mail_templates.check(source, html=html)]


@pytest.mark.parametrize("path", DEFAULTS, ids=lambda path: path.name)
def test_every_default_template_passes_so_the_placeholders_cover_them(path: Path) -> None:
    assert mail_templates.check(path.read_text(encoding="utf-8"), html=path.suffix == ".html") == []


def test_the_defaults_were_found() -> None:
    assert {"correo_asunto.txt", "correo_cuerpo.txt"} <= {path.name for path in DEFAULTS}


def test_the_placeholders_are_exactly_the_agreed_names_and_the_sample_has_them() -> None:
    assert set(mail_templates.PLACEHOLDERS) == {
        "cliente", "no_cliente", "sociedad", "sociedad_codigo", "fecha_corte", "fecha_emision",
        "saldo", "vencido", "a_favor", "saldos", "banco", "cuenta", "clabe", "referencia_pago",
        "datos_pago", "contacto", "logo",
    }  # fmt: skip
    assert set(mail_templates.SAMPLE) == set(mail_templates.PLACEHOLDERS)
    assert all(mail_templates.PLACEHOLDERS.values())


@pytest.mark.parametrize(
    ("source", "html"),
    [
        ("", False),
        ("   \n", True),
        ("Estado de cuenta {{ sociedad_codigo }} al {{ fecha_corte }} - {{ cliente }}", False),
        ("{% for fila in saldos %}{{ fila.moneda }}: {{ fila.saldo }} ({{ fila.vencido }})\n"
         "{% if loop.last %}fin{% endif %}{% endfor %}", False),
        ("{% set total = saldo or 'sin saldo' %}Saldo: {{ total }}", False),
        ("{% for fila in saldos %}{% set m = fila.moneda %}{{ m }}{% endfor %}", False),
        ("{{ cliente|upper }} {{ datos_pago|replace('\\n', ' / ') }} {{ saldos|length }}", False),
        ("{% if vencido %}Vencido: {{ vencido }}{% else %}Al corriente{% endif %}", False),
        ("{% for n in range(3) %}{{ n }}{% endfor %}", False),
        ('{% if logo %}<img src="{{ logo }}">{% endif %}<p>{{ cliente }}</p>', True),
        ("<table>{% for fila in saldos %}<tr><td>{{ fila['moneda'] }}</td></tr>{% endfor %}"
         "</table>", True),
        ("{% macro fila(m) %}{{ m }}{% endmacro %}{{ fila(fecha_emision) }}", False),
        ("{# nota para el equipo #}{{ contacto }} {{ banco }} {{ cuenta }} {{ clabe }} "
         "{{ referencia_pago }} {{ no_cliente }} {{ sociedad }}", False),
    ],
)  # fmt: skip
def test_valid_templates_pass(source: str, html: bool) -> None:
    assert mail_templates.check(source, html=html) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Hola\n{{ cliente }", "Línea 2: falta una «}»: «{{ … }}» se cierra con dos"),
        ("a\nb\n{{ cliente", "Línea 3: la plantilla termina sin cerrar: falta «}}»"),
        ("a\n{% for fila in saldos %}\n{{ fila.moneda }}\n",
         "Línea 3: la plantilla termina con el «{% for %}» abierto: falta «{% endfor %}»"),
        ("{% if saldo %}\nx\n{% endfor %}",
         "Línea 3: llegó «{% endfor %}» con el «{% if %}» abierto; ciérralo antes con "
         "«{% endif %}»"),
        ("a\n\n{% endif %}", "Línea 3: «{% endif %}» no cierra ningún bloque abierto"),
        ("{% saludo %}", "Línea 1: la etiqueta «{% saludo %}» no existe"),
        ("\n{{ cliente no_cliente }}", "Línea 2: se esperaba «}}» y llegó «no_cliente»"),
        ("{{ 'Estimado }}", "Línea 1: el carácter «'» no se entiende ahí (¿faltan las comillas "
         "de cierre?)"),
        ("{{ }}", "Línea 1: falta un dato antes de «}}»"),
        ("{% %}", "Línea 1: falta el nombre de la etiqueta dentro de «{% %}»"),
        ("x\n{{ cliente|mayusculas }}", "Línea 2: el filtro «mayusculas» no existe"),
        ("{% if saldo %}\n{{ saldo|mayusculas }}{% endif %}",
         "Línea 2: el filtro «mayusculas» no existe"),
        ("{{ cliente is persona }}", "Línea 1: la prueba «persona» no existe"),
        ("{{ cliente.}}", "Línea 1: después del «.» falta el nombre del dato"),
        ("{{ cliente ~ }}", "Línea 1: falta un dato antes de «}}»"),
    ],
)  # fmt: skip
def test_a_syntax_error_is_reported_on_its_line(source: str, expected: str) -> None:
    assert messages(source) == [expected]


def test_an_unknown_placeholder_is_reported_on_each_line_it_appears_on() -> None:
    source = (
        "Hola\n{{ clientes }}\n{% if deuda %}{{ clientes }}{% endif %} {{ zzz }}\n{{ cliente }}"
    )
    assert messages(source) == [
        "Línea 2: «{{ clientes }}» no es un dato disponible (¿quisiste decir «{{ cliente }}»?); "
        "los disponibles están en la lista",
        "Línea 3: «{{ clientes }}» no es un dato disponible (¿quisiste decir «{{ cliente }}»?); "
        "los disponibles están en la lista",
        "Línea 3: «{{ deuda }}» no es un dato disponible; los disponibles están en la lista",
        "Línea 3: «{{ zzz }}» no es un dato disponible; los disponibles están en la lista",
    ]


@pytest.mark.parametrize(
    "source",
    [
        "{% for fila in saldos %}{{ fila.saldo }}{% endfor %}",
        "{% for moneda, saldo_x, v in [('MXN', '1', '2')] %}{{ moneda }}{{ saldo_x }}{% endfor %}",
        "{% set nombre = cliente|title %}{{ nombre }}",
        "{% with x = sociedad %}{{ x }}{% endwith %}",
    ],
)
def test_names_the_template_sets_itself_are_not_unknown(source: str) -> None:
    assert messages(source) == []


def test_a_loop_variable_used_after_its_loop_is_unknown() -> None:
    assert messages("{% for fila in saldos %}{% endfor %}\n{{ fila }}") == [
        "Línea 2: «{{ fila }}» no es un dato disponible; los disponibles están en la lista"
    ]


def test_the_logo_is_only_for_the_html_body() -> None:
    source = '<img src="{{ logo }}">'
    assert messages(source, html=True) == []
    assert messages(source) == ["Línea 1: «{{ logo }}» solo sirve en el cuerpo HTML"]


@pytest.mark.parametrize(
    ("source", "attribute"),
    [
        ("{{ ''.__class__ }}", "__class__"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "__class__"),
        ("{{ cliente.__init__.__globals__ }}", "__init__"),
        ("{{ cliente.__class__.__mro__ }}", "__class__"),
        ("{{ lipsum.__globals__['os'].system('touch {marker}') }}", "__globals__"),
        ("{{ cycler.__init__.__globals__.os.popen('touch {marker}') }}", "__init__"),
        ("{{ self.__init__.__globals__ }}", "__init__"),
        ("{{ saldos[0].__class__.__base__.__subclasses__() }}", "__class__"),
        ("{{ saldos.__setitem__(0, 1) }}", "__setitem__"),
        ("{{ cliente|attr('__class__') }}", "__class__"),
        ("{{ cliente|attr('__init__')|attr('__globals__') }}", "__globals__"),
        ("{{ saldos|selectattr('__class__')|list }}", "__class__"),
        ("{{ saldos|sum(attribute='__class__') }}", "__class__"),
        ("{{ saldos|join(attribute='__class__') }}", "__class__"),
        ("{{ '%s'|format(cliente.__class__) }}", "__class__"),
        ("{{ '{0.__class__}'.format(cliente) }}", "__class__"),
        ("{% set f = '{0.__init__.__globals__}'.format %}{{ f(cliente) }}", "__init__"),
    ],
)
def test_the_sandbox_refuses_python_internals_in_spanish_and_nothing_runs(
    source: str, attribute: str, tmp_path: Path
) -> None:
    marker = tmp_path / "ejecutado"
    problems = mail_templates.check(source.replace("{marker}", str(marker)), html=False)
    assert problems == [
        Problem(1, f"«{attribute}» es parte interna de Python y una plantilla no puede usarlo")
    ]
    assert not marker.exists()


def test_the_sandbox_limits_a_huge_range() -> None:
    assert messages("a\n{% for i in range(10**9) %}x{% endfor %}") == [
        "Línea 2: range() llega a lo más a 100,000 vueltas"
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a\n{{ saldos.total }}", "Línea 2: el dato no tiene «.total» (las filas de saldos "
         "tienen .moneda, .saldo, .vencido y .a_favor)"),
        ("{% for fila in saldos %}\n{{ fila.importe }}{% endfor %}",
         "Línea 2: el dato no tiene «.importe» (las filas de saldos tienen .moneda, .saldo, "
         ".vencido y .a_favor)"),
        ("{{ cliente.nombre }}", "Línea 1: el dato no tiene «.nombre»"),
        ("{{ saldos[7] }}", "Línea 1: con los datos de ejemplo no hay un elemento 7"),
        ("x\n\n{{ saldo|money }}", "Línea 3: el filtro «money» no se puede usar con este dato; "
         "los importes y fechas ya llegan con formato"),
        ("{{ fecha_corte|day }}", "Línea 1: el filtro «day» no se puede usar con este dato; "
         "los importes y fechas ya llegan con formato"),
        ("{{ saldos|balances }}", "Línea 1: el filtro «balances» no se puede usar con este "
         "dato; los importes y fechas ya llegan con formato"),
        ("{{ cliente|format(1) }}", "Línea 1: el filtro «format» no se puede usar con este dato"),
        ("{{ cliente + 1 }}", 'Línea 1: no se pudo armar con los datos de ejemplo: can only '
         'concatenate str (not "int") to str'),
        ("{% include 'otra.txt' %}",
         "Línea 1: «{% include %}» no se puede usar: la plantilla va completa aquí"),
        ("{% extends 'base.html' %}",
         "Línea 1: «{% extends %}» no se puede usar: la plantilla va completa aquí"),
    ],
)  # fmt: skip
def test_other_render_errors_are_said_in_spanish_with_their_line(
    source: str, expected: str
) -> None:
    assert messages(source) == [expected]


def test_a_template_that_changes_the_sample_does_not_change_the_next_check() -> None:
    assert messages("{{ saldos.clear() }}") == []
    assert messages("{{ saldos[1].moneda }}") == []


def test_the_html_body_is_autoescaped() -> None:
    rendered = templating.render_text("<p>{{ cliente }}</p>", html=True, cliente="<b>PEÑA & HIJOS")
    assert rendered == "<p>&lt;b&gt;PEÑA &amp; HIJOS</p>"
    assert templating.render_text("{{ cliente }}", html=False, cliente="<b>") == "<b>"


def test_a_template_over_the_maximum_length_is_refused() -> None:
    source = "{{ cliente }}" + "x" * 100
    assert mail_templates.check(source, html=False, max_length=100) == [
        Problem(None, "tiene 113 caracteres; el máximo es 100")
    ]
    assert mail_templates.check(source, html=False, max_length=113) == []


def test_check_all_checks_each_part_and_the_subject_is_one_line() -> None:
    result = mail_templates.check_all(
        "Estado de cuenta\n{{ cliente }}",
        "Hola {{ cliente }}\n\n{{ datos_pago }}",
        "<p>{{ clientes }}</p>",
    )
    assert [str(problem) for problem in result["subject"]] == [
        "El asunto debe ser de una sola línea: escríbelo en una línea (o usa {%- … -%} para que "
        "las etiquetas no dejen saltos de línea)"
    ]
    assert result["text_body"] == []
    assert [str(problem) for problem in result["html_body"]] == [
        "Línea 1: «{{ clientes }}» no es un dato disponible (¿quisiste decir «{{ cliente }}»?); "
        "los disponibles están en la lista"
    ]
    assert mail_templates.check_all("{{ datos_pago }}", "", "")["subject"] != []


@pytest.mark.parametrize(
    "subject",
    [
        "{% if saldo %}\nSaldo {{ saldo }}\n{% endif %}",  # the breaks are only around it
        "Estado de cuenta {%- if vencido %} con saldo vencido{% endif %}",
    ],
)
def test_a_subject_whose_result_is_one_line_passes(subject: str) -> None:
    assert mail_templates.check_all(subject, "", "")["subject"] == []


def test_a_subject_longer_than_its_maximum_is_refused() -> None:
    (problem,) = mail_templates.check_all("x" * 1_001, "", "")["subject"]
    assert str(problem) == "Tiene 1,001 caracteres; el máximo es 1,000"


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("{{ 'a' * 10**9 }}", "multiplicación es demasiado largo"),
        ("{{ [0] * 1000000 }}", "multiplicación es demasiado largo"),
        ("{{ cliente * 100000 }}", "multiplicación es demasiado largo"),
        ("{{ 2 ** 1000000 }}", "la potencia 1000000 es demasiado grande"),
        ("{{ cliente.center(1000000000) }}", "el número 1,000,000,000 es demasiado grande"),
        ("{{ cliente|center(1000000000) }}", "el número 1,000,000,000 es demasiado grande"),
        ("{{ cliente|indent(10 ** 9) }}", "el número 1,000,000,000 es demasiado grande"),
        ("{{ '%1000000000d' % 1 }}", "el número 1,000,000,000 es demasiado grande"),
        ("{{ '%.200000f'|format(1) }}", "el número 200,000 es demasiado grande"),
        ("{{ '{:>1000000000}'.format(1) }}", "el número 1,000,000,000 es demasiado grande"),
        ("{{ '{0:>{1}}'.format(1, 10 ** 9) }}", "el número 1,000,000,000 es demasiado grande"),
    ],
)
def test_a_template_that_would_eat_memory_is_refused_before_it_runs(
    source: str, words: str
) -> None:
    [problem] = mail_templates.check(source, html=False)
    assert problem.line == 1
    assert words in problem.message
    with pytest.raises(templating.TooBig):
        templating.render_text(source, **mail_templates.SAMPLE)


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for i in range(400) %}{% for c in cliente * 400 %}{% endfor %}{% endfor %}",
        "{% macro m(n) %}{% if n %}{% for i in range(10) %}{{ m(n - 1) }}{% endfor %}{% endif %}"
        "{% endmacro %}{{ m(20) }}",
    ],
)
def test_loops_that_would_keep_a_worker_busy_are_stopped_at_the_turn_limit(source: str) -> None:
    [problem] = mail_templates.check(source, html=False)
    assert problem.message == "la plantilla da más de 100,000 vueltas en sus ciclos"
    with pytest.raises(templating.TooBig):
        templating.render_text(source, **mail_templates.SAMPLE)


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(30) %}{{ x }}{% endfor %}",
        "{% macro m() %}{% for i in range(100000) %}{{ x }}{% endfor %}{% endmacro %}{{ m()[:9] }}",
        "{% set y %}{% for i in range(100) %}{{ x }}{% endfor %}{% endset %}",
        "{% set ns = namespace(s='') %}{% for i in range(1000) %}{% set ns.s = ns.s ~ x %}"
        "{% endfor %}",
        "{{ x.replace('a', x)[:9] }}",
        "{{ (x|replace('a', x))[:9] }}",
        "{{ x.join(range(100000)|map('string'))[:9] }}",
        "{{ (range(100000)|join(x))[:9] }}",
        "{{ (range(100000)|join(d=x))[:9] }}",
    ],
)
def test_a_text_larger_than_an_email_is_refused_wherever_it_is_built(source: str) -> None:
    """Written out, in a macro, in a {% set %} block or joined with ~: each stops at the limit
    instead of building gigabytes first."""
    source = "{% set x = 'a' * 100000 %}\n" + source
    assert messages(source) == ["Línea 2: el resultado pasa de 2,000,000 caracteres"]


def test_loops_within_the_limits_work_as_jinja_loops() -> None:
    source = (
        "{% for fila in saldos %}{{ loop.index }}/{{ loop.length }} {{ fila.moneda }}"
        "{% if not loop.last %}, {% endif %}{% else %}nada{% endfor %}"
        "|{% for k, v in pares %}{{ k }}={{ v }} {% endfor %}"
        "|{% for i in [] %}x{% else %}vacío{% endfor %}"
    )
    rendered = templating.render_text(
        source, saldos=mail_templates.SAMPLE["saldos"], pares=[("a", 1), ("b", 2)]
    )
    assert rendered == "1/2 MXN, 2/2 USD|a=1 b=2 |vacío"


def test_recursive_loops_and_endless_macros_are_refused_with_their_reason() -> None:
    assert messages("x\n{% for i in saldos recursive %}{{ loop(i) }}{% endfor %}") == [
        "Línea 2: los ciclos «recursive» no se pueden usar en una plantilla"
    ]
    assert messages("{% macro m() %}{{ m() }}{% endmacro %}\n{{ m() }}") == [
        "Línea 1: una macro se usa a sí misma sin fin"
    ]


def test_small_arithmetic_and_repeats_still_work() -> None:
    assert templating.render_text("{{ 3 * 4 }} {{ '-' * 3 }} {{ 2 ** 10 }}") == "12 --- 1024"


def test_small_widths_and_numbers_in_text_still_work() -> None:
    source = (
        "{{ '%5d'|format(3) }}|{{ '{:>4}'.format(2) }}|{{ 'ab'|center(6) }}|"
        "{{ 'Folio 2026000: %s' % 1 }}|{{ 'x'.ljust(3, '.') }}|{{ 'a b'.replace(' ', '_') }}|"
        "{{ 'a b'|replace(' ', '-') }}|{{ ', '.join(['a', 'b']) }}|"
        "{{ '-'.join(range(3)|map('string')) }}|{{ ['x', 'y']|join(d='+') }}"
    )
    assert templating.render_text(source) == (
        "    3|   2|  ab  |Folio 2026000: 1|x..|a_b|a-b|a, b|0-1-2|x+y"
    )


def test_safe_cannot_unescape_a_customers_name_in_html() -> None:
    [problem] = mail_templates.check("{{ cliente|safe }}", html=True)
    assert "«safe» no existe" in problem.message
