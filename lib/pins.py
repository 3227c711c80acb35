"""The library versions that our hooks into their internals were written against.

A hook replaces or reaches into something a library does not promise to keep (a private
function, a class it builds by name). Each hooking module names the versions it knows; on any
other, it does not hook.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import metadata

NOT_INSTALLED = "no instalada"


def differing(pinned: Mapping[str, str]) -> dict[str, str]:
    """The libraries of `pinned` whose installed version is another, with the installed one."""
    return {name: installed(name) for name, version in pinned.items() if installed(name) != version}


@cache
def installed(name: str) -> str:
    """A library's installed version, looked up once per process: the login asks on every run
    of every page, and a lookup reads the installed packages' metadata (about 0.3 ms)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return NOT_INSTALLED
