"""A sociedad's own email templates, checked before Administración › Sociedades saves them.

An admin types the subject, text body and HTML body; a mistake left there would only show
when the send renders it, customer after customer. `check` finds it while it is typed, with
its line: a syntax error, a placeholder that does not exist, and whatever a trial render with
`SAMPLE` refuses (the sandbox's Python internals, a filter on the wrong value). The trial uses
`lib.templating.render_text`, the very function the send uses.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass
from functools import cache
from types import CodeType, TracebackType

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import MAX_RANGE, SandboxedEnvironment

from lib import templating

MAX_LENGTH = 20_000
SUBJECT_MAX_LENGTH = 1_000
TEMPLATE_FILENAME = "<template>"  # where Jinja's rewritten traceback puts a typed template

PLACEHOLDERS: dict[str, str] = {
    "cliente": "Nombre del cliente",
    "no_cliente": "No. Cliente",
    "sociedad": "Nombre de la sociedad",
    "sociedad_codigo": "Código de la sociedad, p. ej. SM02",
    "fecha_corte": "Fecha de corte del estado de cuenta",
    "fecha_emision": "Día del envío",
    "saldo": "Saldo por moneda, p. ej. «MXN $4,434.81 · USD $99.99»; vacío si no hay saldo",
    "vencido": "Cargos vencidos por moneda, antes de los saldos a favor; vacío si nada vence",
    "a_favor": "Pagos y notas de crédito por aplicar, por moneda (negativos); vacío si no hay",
    "saldos": "Lista con una fila por moneda, con .moneda, .saldo, .vencido y .a_favor, para una "
    "tabla: "
    "{% for fila in saldos %}…{% endfor %}",
    "banco": "Banco de los datos para pago",
    "cuenta": "Cuenta de los datos para pago",
    "clabe": "CLABE de los datos para pago",
    "referencia_pago": "Lo que el cliente indica al pagar: su No. Cliente o su RFC",
    "datos_pago": "El bloque «Datos para pago» completo",
    "contacto": "El correo ResponderA de la sociedad",
    "logo": 'Solo HTML: <img src="{{ logo }}">; vacío si la sociedad no tiene logotipo',
}
HTML_ONLY = frozenset({"logo"})

SAMPLE: dict[str, object] = {
    "cliente": "PEÑA & HIJOS SA DE CV",
    "no_cliente": "1006210",
    "sociedad": "Soluciones del Bajío SA de CV",
    "sociedad_codigo": "SM02",
    "fecha_corte": "02/03/2020",
    "fecha_emision": "05/03/2020",
    "saldo": "MXN $4,434.81 · USD $99.99",
    "vencido": "MXN $1,160.50",
    "a_favor": "MXN -$158.80",
    "saldos": [
        {"moneda": "MXN", "saldo": "$4,434.81", "vencido": "$1,160.50", "a_favor": "-$158.80"},
        {"moneda": "USD", "saldo": "$99.99", "vencido": "$0.00", "a_favor": "$0.00"},
    ],
    "banco": "BBVA México",
    "cuenta": "0118359012",
    "clabe": "032180000118359719",
    "referencia_pago": "1006210",
    "datos_pago": "Datos para pago:\nBanco: BBVA México\nCuenta: 0118359012\n"
    "CLABE: 032180000118359719\nReferencia: 1006210",
    "contacto": "cobranza@bajio.example",
    "logo": "cid:logo-sm02@envio-masivo.example",
}

# Jinja's own token names, as the template shows them.
TOKENS = {
    "end of print statement": "}}",
    "end of statement block": "%}",
    "end of template": "el final de la plantilla",
    "name": "un nombre",
}
PLAIN_SYNTAX = {
    "tag name expected": "falta el nombre de la etiqueta dentro de «{% %}»",
    "expected name or number": "después del «.» falta el nombre del dato",
}
# Tags that would read another template: a typed one has no other to read.
OTHER_TEMPLATES = {
    nodes.Include: "include",
    nodes.Extends: "extends",
    nodes.Import: "import",
    nodes.FromImport: "from",
}
# The app's own filters, for values the placeholders already hand over formatted.
FORMATTING = frozenset({"money", "day", "balances"})
INNERMOST_RE = re.compile(r"The innermost block that needs to be closed is '(\w+)'")
UNKNOWN_TAG_RE = re.compile(r"^Encountered unknown tag '(\w+)'")
END_OF_TEMPLATE_RE = re.compile(r"^unexpected end of template, expected '(.+?)'")
UNEXPECTED_RE = re.compile(r"^unexpected '(.+?)'(?:, expected '(.+?)')?$")
UNEXPECTED_CHAR_RE = re.compile(r"^unexpected char (['\"])(.+?)\1")
EXPECTED_TOKEN_RE = re.compile(r"^expected token '(.+?)', got '(.+?)'$")
EXPECTED_EXPRESSION_RE = re.compile(r"^Expected an expression, got '(.+?)'$")
NO_FILTER_RE = re.compile(r"^No (filter|test) named '(.+?)'")
UNSAFE_ATTRIBUTE_RE = re.compile(r"access to attribute '(.+?)' of")
MISSING_ATTRIBUTE_RE = re.compile(r"has no attribute '(.+?)'$")
MISSING_ELEMENT_RE = re.compile(r"has no element (.+)$")


@dataclass(frozen=True)
class Problem:
    """One thing to fix before the template is saved; `line` is the template's, when known."""

    line: int | None
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return self.message[:1].upper() + self.message[1:]
        return f"Línea {self.line}: {self.message}"


def check(
    source: str, *, html: bool, max_length: int = MAX_LENGTH, one_line: bool = False
) -> list[Problem]:
    """Every problem found, in the order a person fixes them; [] for a usable template.

    An empty (or blank) source is fine: it means the default file. With `one_line` (the
    subject) a template whose result has line breaks is refused, since the send would fold it.
    """
    if not source.strip():
        return []
    if len(source) > max_length:
        return [Problem(None, f"tiene {len(source):,} caracteres; el máximo es {max_length:,}")]
    try:
        tree = _parser().parse(source)
        problems = _other_templates(tree) + _recursive_loops(tree) + _unknown_names(tree, html=html)
    except TemplateSyntaxError as exc:  # finding the names compiles: an unknown filter fails
        return [_syntax(exc)]
    return problems or _trial(source, html=html, one_line=one_line)


def check_all(subject: str, text_body: str, html_body: str) -> dict[str, list[Problem]]:
    """One language's three templates, keyed as `CompanyTemplate`'s columns."""
    return {
        "subject": check(subject, html=False, max_length=SUBJECT_MAX_LENGTH, one_line=True),
        "text_body": check(text_body, html=False),
        "html_body": check(html_body, html=True),
    }


@cache
def _parser() -> SandboxedEnvironment:
    """A sandbox like the send's for reading a template: finding its names compiles it, which
    needs the filters the app's templates have."""
    return templating.sandbox(html=False)


def _syntax(exc: TemplateSyntaxError) -> Problem:
    return Problem(exc.lineno, _syntax_message(exc.message or str(exc)))


def _syntax_message(text: str) -> str:
    """Jinja's wording of the common mistakes said in Spanish; any other, as Jinja says it."""
    if text in PLAIN_SYNTAX:
        return PLAIN_SYNTAX[text]
    if match := INNERMOST_RE.search(text):
        block = match.group(1)
        if tag := UNKNOWN_TAG_RE.match(text):
            return (
                f"llegó «{{% {tag.group(1)} %}}» con el «{{% {block} %}}» abierto; "
                f"ciérralo antes con «{{% end{block} %}}»"
            )
        return f"la plantilla termina con el «{{% {block} %}}» abierto: falta «{{% end{block} %}}»"
    if tag := UNKNOWN_TAG_RE.match(text):
        name = tag.group(1)
        if name.startswith("end") or name in {"else", "elif"}:
            return f"«{{% {name} %}}» no cierra ningún bloque abierto"
        return f"la etiqueta «{{% {name} %}}» no existe"
    if match := END_OF_TEMPLATE_RE.match(text):
        return f"la plantilla termina sin cerrar: falta «{_token(match.group(1))}»"
    if match := UNEXPECTED_CHAR_RE.match(text):
        char = match.group(2)
        hint = " (¿faltan las comillas de cierre?)" if char in "'\"" else ""
        return f"el carácter «{char}» no se entiende ahí{hint}"
    if match := UNEXPECTED_RE.match(text):
        found, expected = match.groups()
        if expected:
            return f"se esperaba «{_token(expected)}» y llegó «{found}»"
        if found in TOKENS:
            return f"falta un dato antes de «{_token(found)}»"
        if found == "}":
            return "falta una «}»: «{{ … }}» se cierra con dos"
        return f"sobra «{found}»"
    if match := EXPECTED_TOKEN_RE.match(text):
        return f"se esperaba «{_token(match.group(1))}» y llegó «{_token(match.group(2))}»"
    if match := EXPECTED_EXPRESSION_RE.match(text):
        return f"falta un dato antes de «{_token(match.group(1))}»"
    if match := NO_FILTER_RE.match(text):
        kind = "el filtro" if match.group(1) == "filter" else "la prueba"
        return f"{kind} «{match.group(2)}» no existe"
    return f"error de sintaxis: {text}"


def _token(name: str) -> str:
    return TOKENS.get(name, name)


def _other_templates(tree: nodes.Template) -> list[Problem]:
    return [
        Problem(node.lineno, f"«{{% {tag} %}}» no se puede usar: la plantilla va completa aquí")
        for kind, tag in OTHER_TEMPLATES.items()
        for node in tree.find_all(kind)
    ]


def _recursive_loops(tree: nodes.Template) -> list[Problem]:
    return [
        Problem(loop.lineno, templating.RECURSIVE_LOOP)
        for loop in tree.find_all(nodes.For)
        if loop.recursive
    ]


def _unknown_names(tree: nodes.Template, *, html: bool) -> list[Problem]:
    """Each use of a name the template neither gets nor sets itself (a loop variable, a
    `{% set %}` and Jinja's own `range`, `loop`… are fine), with its line."""
    available = PLACEHOLDERS.keys() - (set() if html else HTML_ONLY)
    unknown = meta.find_undeclared_variables(tree) - available - _parser().globals.keys()
    uses = {
        (node.lineno, node.name)
        for node in tree.find_all(nodes.Name)
        if node.ctx == "load" and node.name in unknown
    }
    return [Problem(line, _unknown_message(name)) for line, name in sorted(uses)]


def _unknown_message(name: str) -> str:
    if name in HTML_ONLY:
        return f"«{{{{ {name} }}}}» solo sirve en el cuerpo HTML"
    close = difflib.get_close_matches(name, PLACEHOLDERS, n=1)
    hint = f" (¿quisiste decir «{{{{ {close[0]} }}}}»?)" if close else ""
    return f"«{{{{ {name} }}}}» no es un dato disponible{hint}; los disponibles están en la lista"


def _trial(source: str, *, html: bool, one_line: bool) -> list[Problem]:
    """Render with `SAMPLE` as the send would; a copy, since a template may change a list."""
    try:
        rendered = templating.render_text(source, html=html, **copy.deepcopy(SAMPLE))
    except Exception as exc:  # a typed template can raise anything: say it, never a traceback
        return [Problem(_line(exc.__traceback__), reason(exc))]
    if one_line and len(rendered.strip().splitlines()) > 1:
        return [
            Problem(
                None,
                "el asunto debe ser de una sola línea: escríbelo en una línea "
                "(o usa {%- … -%} para que las etiquetas no dejen saltos de línea)",
            )
        ]
    return []


def reason(exc: BaseException, data: str = "los datos de ejemplo") -> str:
    """Why a template failed to render with `data`, in Spanish: said on the Sociedades page,
    and on a customer's row when a stored template fails with that customer's data."""
    text = str(exc)
    if isinstance(exc, templating.Refused):
        return text
    if isinstance(exc, RecursionError):
        return "una macro se usa a sí misma sin fin"
    if isinstance(exc, SecurityError):
        if match := UNSAFE_ATTRIBUTE_RE.search(text):
            return _internal(match.group(1))
        return "la plantilla intenta algo que no se permite por seguridad"
    if NO_FILTER_RE.match(text):  # in an {% if %}, an unknown filter is found when it runs
        return _syntax_message(text)
    if isinstance(exc, OverflowError) and "MAX_RANGE" in text:
        return f"range() llega a lo más a {MAX_RANGE:,} vueltas"
    if isinstance(exc, UndefinedError):
        if match := MISSING_ATTRIBUTE_RE.search(text):
            if match.group(1).startswith("_"):  # what the sandbox hid, through `attr`
                return _internal(match.group(1))
            rows = " (las filas de saldos tienen .moneda, .saldo, .vencido y .a_favor)"
            hint = rows if text.startswith(("'list object'", "'dict object'")) else ""
            return f"el dato no tiene «.{match.group(1)}»{hint}"
        if match := MISSING_ELEMENT_RE.search(text):
            return f"con {data} no hay un elemento {match.group(1)}"
    if name := _failing_filter(exc.__traceback__):
        hint = "; los importes y fechas ya llegan con formato" if name in FORMATTING else ""
        return f"el filtro «{name}» no se puede usar con este dato{hint}"
    return f"no se pudo armar con {data}: {text}"


def _internal(attribute: str) -> str:
    return f"«{attribute}» es parte interna de Python y una plantilla no puede usarlo"


def _frames(tb: TracebackType | None) -> list[TracebackType]:
    frames = []
    while tb is not None:
        frames.append(tb)
        tb = tb.tb_next
    return frames


def _line(tb: TracebackType | None) -> int | None:
    """The typed template's line: Jinja rewrites the traceback so its frames carry them."""
    lines = [frame.tb_lineno for frame in _frames(tb) if _in_template(frame)]
    return lines[-1] if lines else None


def _failing_filter(tb: TracebackType | None) -> str | None:
    """The filter that failed: what the template's last frame called, if a filter (past the
    sandbox's own check around each filter)."""
    frames = _frames(tb)
    last = max((i for i, frame in enumerate(frames) if _in_template(frame)), default=None)
    if last is None:
        return None
    called = [f for f in frames[last + 1 :] if f.tb_frame.f_code.co_filename != templating.__file__]
    return _filter_codes().get(called[0].tb_frame.f_code) if called else None


def _in_template(frame: TracebackType) -> bool:
    return frame.tb_frame.f_code.co_filename == TEMPLATE_FILENAME


@cache
def _filter_codes() -> dict[CodeType, str]:
    filters = templating.files().filters
    return {f.__code__: name for name, f in filters.items() if hasattr(f, "__code__")}
