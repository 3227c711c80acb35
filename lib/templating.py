"""Jinja2 environments: files in `lib/templates/` (finance can edit them) and per-sociedad
overrides stored in the database, rendered in a sandbox since an admin typed them.

HTML is always autoescaped, so `PEÑA & HIJOS <SA>` prints as written; plain-text templates
(email subject and text body) are not escaped.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from lib import formatting

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
# What a sociedad's template may compute: no email needs more.
MAX_EXPONENT = 100
MAX_REPEAT = 100_000


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


class TooBig(SecurityError):
    """What a template computes would not fit in an email (said in Spanish)."""


class _Sandbox(SandboxedEnvironment):
    """Jinja's sandbox keeps a template away from Python's internals, not from memory: `*` and
    `**` are checked here so that `{{ 'a' * 10**9 }}` is refused instead of taking a gigabyte
    at send time. `safe` is gone: an admin's HTML is theirs, a customer's name never is."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _big(right, MAX_EXPONENT):
            raise TooBig(f"la potencia {right} es demasiado grande")
        if operator == "*" and _repeats(left, right) > MAX_REPEAT:
            raise TooBig("el resultado de la multiplicación es demasiado largo")
        return super().call_binop(context, operator, left, right)


def _big(value: Any, limit: int) -> bool:
    return isinstance(value, int | float) and abs(value) > limit


def _repeats(left: Any, right: Any) -> int:
    """How long a repeated text or list would be (0 for numbers times numbers)."""
    for sequence, times in ((left, right), (right, left)):
        if isinstance(sequence, str | list | tuple) and isinstance(times, int):
            return len(sequence) * times
    return 0


@cache
def sandbox(html: bool) -> SandboxedEnvironment:
    """The environment a sociedad's template renders in (`lib.mail_templates` reads it with
    the same one, so that no constant is folded that the send would refuse)."""
    environment = _Sandbox(
        autoescape=html, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    del environment.filters["safe"]
    _filters(environment)
    return environment


def source_of(name: str) -> str:
    """A default template's text, for an admin to start their own from."""
    return (TEMPLATES_DIR / name).read_text(encoding="utf-8")


def render_file(name: str, **context: Any) -> str:
    return files().get_template(name).render(**context)


def render_text(source: str, *, html: bool = False, **context: Any) -> str:
    """Render a template typed in the app (a sociedad's own subject or body)."""
    return sandbox(html).from_string(source).render(**context)
