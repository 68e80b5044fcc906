"""Interface languages: English, French and Spanish, from Babel catalogues.

Catalogues live in ``forum/locale/<lang>/LC_MESSAGES/messages.po`` and are compiled in memory
at start-up (no generated ``.mo`` files to forget). The language of a request is, in order:
the signed-in user's choice, the ``dief_lang`` cookie set by the language switcher, the
browser's ``Accept-Language``, the first configured language. The current request's
translations sit in a ``ContextVar`` (each aiohttp request runs in its own task), which the
templates' ``_()`` and the handlers' ``gettext`` read.
"""

from __future__ import annotations

import contextvars
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "es": "Español"}

_NULL = NullTranslations()
_current: contextvars.ContextVar[NullTranslations | None] = contextvars.ContextVar(
    "dief_translations", default=None)


class Catalogs:
    def __init__(self, languages: tuple[str, ...]) -> None:
        self.languages = languages
        self._translations: dict[str, NullTranslations] = {}
        for lang in languages:
            po_path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
            if lang == "en" or not po_path.exists():
                self._translations[lang] = NullTranslations()
                continue
            with po_path.open("rb") as handle:
                catalog = read_po(handle, locale=lang)
            buffer = io.BytesIO()
            write_mo(buffer, catalog)
            buffer.seek(0)
            self._translations[lang] = Translations(fp=buffer)

    @property
    def default(self) -> str:
        return self.languages[0]

    def get(self, lang: str) -> NullTranslations:
        return self._translations.get(lang) or self._translations[self.default]

    def negotiate(self, accept_language: str) -> str:
        """Best configured language for an ``Accept-Language`` header (RFC 9110 §12.5.4)."""
        ranked: list[tuple[float, int, str]] = []
        for index, part in enumerate(accept_language.split(",")):
            pieces = part.strip().split(";")
            tag = pieces[0].strip().lower()
            quality = 1.0
            for param in pieces[1:]:
                name, _, value = param.strip().partition("=")
                if name.strip() == "q":
                    try:
                        quality = float(value)
                    except ValueError:
                        quality = 0.0
            if tag and quality > 0:
                ranked.append((-quality, index, tag))
        for _, _, tag in sorted(ranked):
            primary = tag.split("-")[0]
            if primary in self.languages:
                return primary
        return self.default


def activate(translations: NullTranslations) -> None:
    _current.set(translations)


def gettext(message: str) -> str:
    return (_current.get() or _NULL).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return (_current.get() or _NULL).ngettext(singular, plural, n)


def lazy_gettext(message: str) -> str:
    """Marks a string for extraction without translating it now (translate at render)."""
    return message
