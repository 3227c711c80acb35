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
from jinja2.sandbox import SandboxedEnvironment

from lib import formatting

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


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


@cache
def _sandbox(html: bool) -> SandboxedEnvironment:
    environment = SandboxedEnvironment(autoescape=html, undefined=StrictUndefined)
    _filters(environment)
    return environment


def render_file(name: str, **context: Any) -> str:
    return files().get_template(name).render(**context)


def render_text(source: str, *, html: bool = False, **context: Any) -> str:
    """Render a template typed in the app (a sociedad's own subject or body)."""
    return _sandbox(html).from_string(source).render(**context)
