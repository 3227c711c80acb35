"""The languages a customer's statement and email can be in: Spanish (the default) and English.

A customer's `language` is one of LANGUAGES; the customers import (column Idioma), Catálogo ›
Individual and `lib.cli catalog add --idioma` set it. What is printed in each language is in
`lib.statements.labels` and the `_en` email templates.
"""

from __future__ import annotations

from lib import normalize
from lib.normalize import InvalidValue

SPANISH = "es"
ENGLISH = "en"
DEFAULT = SPANISH
# code → how the app names it (Catálogo › Individual's choices).
NAMES = {SPANISH: "Español", ENGLISH: "English"}
# What an import cell may say, folded (lower case, no accents).
WORDS = {
    "es": SPANISH,
    "espanol": SPANISH,
    "spanish": SPANISH,
    "en": ENGLISH,
    "ingles": ENGLISH,
    "english": ENGLISH,
}


def parse(value: object) -> str:
    """`ES`, `Español`, `spanish` → `es`; `en`, `Inglés`, `English` → `en`; an empty cell is
    the default, Spanish. Anything else is refused, in Spanish."""
    cleaned = normalize.text(value)
    if not cleaned:
        return DEFAULT
    code = WORDS.get(normalize.fold(cleaned))
    if code is None:
        raise InvalidValue(f"idioma no válido: '{cleaned}' (usa es para español o en para inglés)")
    return code
