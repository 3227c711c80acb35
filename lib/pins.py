"""The library versions that our hooks into their internals were written against.

A hook replaces or reaches into something a library does not promise to keep (a private
function, a class it builds by name). Each hooking module names the versions it knows; on any
other, it does not hook.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import metadata

NOT_INSTALLED = "no instalada"


def differing(pinned: Mapping[str, str]) -> dict[str, str]:
    """The libraries of `pinned` whose installed version is another, with the installed one."""
    found = {}
    for name, version in pinned.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = NOT_INSTALLED
        if installed != version:
            found[name] = installed
    return found
