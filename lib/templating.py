"""Jinja2 environments: files in `lib/templates/` (finance can edit them) and per-sociedad
overrides stored in the database, rendered in a sandbox since an admin typed them.

HTML is always autoescaped, so `PEÑA & HIJOS <SA>` prints as written; plain-text templates
(email subject and text body) are not escaped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from functools import cache, lru_cache, wraps
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    nodes,
    select_autoescape,
)
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer

from lib import formatting

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
# What a sociedad's template may compute: no email needs more.
MAX_EXPONENT = 100
MAX_REPEAT = 100_000
# Loop turns and characters of one render: an email's table has a few rows per currency, and a
# typed template must not be able to keep a worker busy (nested loops) or fill its memory.
MAX_TURNS = 100_000
MAX_OUTPUT = 2_000_000
# A %-format's or str.format's conversion spec, whose numbers are widths and precisions.
PRINTF_SPEC_RE = re.compile(r"%(?:\([^)]*\))?[#0 +-]*\d*(?:\.\d+)?")
FORMAT_SPEC_RE = re.compile(r"\{[^{}]*:([^{}]*)\}")
TOO_LONG = f"el resultado pasa de {MAX_OUTPUT:,} caracteres"
RECURSIVE_LOOP = "los ciclos «recursive» no se pueden usar en una plantilla"


def _filters(environment: Environment) -> Environment:
    environment.filters["money"] = formatting.money
    environment.filters["day"] = formatting.day
    environment.filters["balances"] = formatting.balances
    return environment


@cache
def files() -> Environment:
    return _filters(
        Environment(
            loader=FileSystemLoader(TEMPLATES_DIR),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    )


class Refused(SecurityError):
    """What a typed template may not do, said in Spanish."""


class TooBig(Refused):
    """What a template computes would not fit in an email."""


class _Sandbox(SandboxedEnvironment):
    """Jinja's sandbox keeps a template away from Python's internals, not from memory: `*` and
    `**` are checked here so that `{{ 'a' * 10**9 }}` is refused instead of taking a gigabyte
    at send time, and so is any number over MAX_REPEAT given to a function, a filter or a
    format (`center(10**9)`, `'%1000000000d' % 1`). `safe` is gone: an admin's HTML is
    theirs, a customer's name never is."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _big(right, MAX_EXPONENT):
            raise TooBig(f"la potencia {right} es demasiado grande")
        if operator == "*" and _repeats(left, right) > MAX_REPEAT:
            raise TooBig("el resultado de la multiplicación es demasiado largo")
        if operator == "%" and isinstance(left, str):
            _check_widths(left, PRINTF_SPEC_RE)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if __obj is not __self.globals.get("range"):  # range has its own limit, said as such
            _check_numbers(args, kwargs)
        if isinstance(getattr(__obj, "__self__", None), str):
            args = _sized(__obj.__name__, __obj.__self__, args)
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, str) and attribute in {"format", "format_map"}:
            _check_widths(obj, FORMAT_SPEC_RE)
        return super().getattr(obj, attribute)


def _big(value: Any, limit: int) -> bool:
    return isinstance(value, int | float) and abs(value) > limit


def _repeats(left: Any, right: Any) -> int:
    """How long a repeated text or list would be (0 for numbers times numbers)."""
    for sequence, times in ((left, right), (right, left)):
        if isinstance(sequence, str | list | tuple) and isinstance(times, int):
            return len(sequence) * times
    return 0


def _check_numbers(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_REPEAT:
            raise TooBig(f"el número {value:,} es demasiado grande para una plantilla")


def _check_widths(text: Any, specs: re.Pattern[str]) -> None:
    """The widths and precisions in a format string (`%9d`, `{:>9}`), which size its result."""
    if not isinstance(text, str):
        return
    for spec in specs.findall(text):
        _check_numbers(tuple(int(digits) for digits in re.findall(r"\d+", spec)), {})


def _sized(method: str, text: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """`text.replace(old, new)` and `text.join(items)` multiply their arguments, so the size of
    their result is known before it is built: refused over MAX_OUTPUT. The items are listed
    here once and passed on as a list, so a generator is still joined whole."""
    if method == "join" and args:
        items = list(args[0])
        _check_size(len(text) * len(items))
        return (items, *args[1:])
    if method == "replace" and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
        old, new = args[0], args[1]
        _check_size(len(text) + (text.count(old) if old else len(text) + 1) * len(new))
    return args


def _check_size(characters: int) -> None:
    if characters > MAX_OUTPUT:
        raise TooBig(TOO_LONG)


def _bounded(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that refuses numbers over MAX_REPEAT, and the filters that size their result
    by their arguments (`format`'s widths, `replace`, `join`) what would pass MAX_OUTPUT.
    Jinja gives `replace` and `join` its evaluation context first: their `args[1]` is the
    value."""

    @wraps(function)  # keeps Jinja's pass_context and friends
    def checked(*args: Any, **kwargs: Any) -> Any:
        _check_numbers(args, kwargs)
        if name == "format" and args:
            _check_widths(args[0], PRINTF_SPEC_RE)
        if name == "replace" and len(args) >= 4:
            _sized("replace", str(args[1]), args[2:4])
        if name == "join" and len(args) >= 2:
            separator = args[2] if len(args) > 2 else kwargs.get("d", "")
            [items] = _sized("join", str(separator), (args[1],))
            args = (args[0], items, *args[2:])
        return function(*args, **kwargs)

    return checked


class _Budget:
    """What is left of one render's MAX_TURNS and MAX_OUTPUT."""

    def __init__(self) -> None:
        self.turns = MAX_TURNS
        self.characters = MAX_OUTPUT


_budget: ContextVar[_Budget] = ContextVar("template_budget")


def counted(iterable: Iterable[Any]) -> Iterator[Any]:
    """Every `{% for %}` of a typed template goes round through here (see `_Budgeted`), so its
    turns count against the render's, nested loops and macros included."""
    budget = _budget.get()
    for item in iterable:
        budget.turns -= 1
        if budget.turns < 0:
            raise TooBig(f"la plantilla da más de {MAX_TURNS:,} vueltas en sus ciclos")
        yield item


def charged(value: Any) -> Any:
    """Every text a typed template writes or joins with `~` passes here, inside macros and
    `{% set %}` blocks too, so no loop can build a text larger than an email in memory."""
    if isinstance(value, str):
        budget = _budget.get()
        budget.characters -= len(value)
        if budget.characters < 0:
            raise TooBig(TOO_LONG)
    return value


def _through(function: str, node: nodes.Expr) -> nodes.Call:
    """`node` passed to one of the functions above, by a name that a template cannot write."""
    call = nodes.Call(nodes.ImportedName(f"{__name__}.{function}"), [node], [], None, None)
    return call.set_lineno(node.lineno)  # errors keep the template's line


class _Budgeted(NodeTransformer):
    """A parsed template whose loops, output and `~` go through `counted` and `charged`. A
    recursive loop calls itself on new iterables that would not be counted: refused."""

    def visit_For(self, node: nodes.For) -> nodes.For:
        if node.recursive:
            raise Refused(RECURSIVE_LOOP)
        self.generic_visit(node)
        node.iter = _through("counted", node.iter)
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Output:
        self.generic_visit(node)
        node.nodes = [
            part if isinstance(part, nodes.TemplateData) else _through("charged", part)
            for part in node.nodes
        ]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Call:
        self.generic_visit(node)
        return _through("charged", node)


@cache
def sandbox(html: bool) -> SandboxedEnvironment:
    """The environment a sociedad's template renders in (`lib.mail_templates` reads it with
    the same one, so that no constant is folded that the send would refuse)."""
    environment = _Sandbox(
        autoescape=html, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    del environment.filters["safe"]
    _filters(environment)
    environment.filters = {
        name: _bounded(name, function) for name, function in environment.filters.items()
    }
    return environment


def source_of(name: str) -> str:
    """A default template's text, for an admin to start their own from."""
    return (TEMPLATES_DIR / name).read_text(encoding="utf-8")


def render_file(name: str, **context: Any) -> str:
    return files().get_template(name).render(**context)


def render_text(source: str, *, html: bool = False, **context: Any) -> str:
    """Render a template typed in the app (a sociedad's own subject or body), within
    MAX_TURNS loop turns and MAX_OUTPUT characters."""
    template = _compiled(source, html)
    token = _budget.set(_Budget())
    try:
        return template.render(**context)
    finally:
        _budget.reset(token)


@lru_cache(maxsize=64)
def _compiled(source: str, html: bool) -> Template:
    """A send renders the same few templates for every customer: compiled once each."""
    environment = sandbox(html)
    return environment.from_string(_Budgeted().visit(environment.parse(source)))
