"""The languages Guardian writes in: gettext catalogs for the words, CLDR (Babel) for the formats.

Messages are written in English in the code; they are the gettext message ids, with named
`{placeholders}`. Each other language has its catalog, `guardian/locale/<code>/LC_MESSAGES/
guardian.po`, which a translator edits (see docs/translating.md). A catalog is compiled in
memory from its `.po` the first time its language is used, so what runs is always what the
file says: there is no compiled copy to fall behind. Plural rules come from the catalog's
`Plural-Forms` (CLDR's, written by Babel); times, ranges, weekdays and lists from CLDR.
A plugin's settings are translated from the plugin's own catalogs (`plugin_catalog`).
"""

from __future__ import annotations

import gettext
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import (
    format_datetime,
    format_interval,
    format_skeleton,
    format_time,
    format_timedelta,
)
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from guardian.durations import format_duration

#: The languages Guardian speaks, by their ISO 639-1 code; English is the code's own.
LANGUAGES = ("en", "nl", "de", "fr", "es")
SOURCE_LANGUAGE = "en"
DEFAULT_LANGUAGE = "en"
#: Each language by its own name, as a language menu shows it.
NAMES = {"en": "English", "nl": "Nederlands", "de": "Deutsch", "fr": "Français", "es": "Español"}
#: The CLDR locale whose formats a language uses. English is written as in Europe, where the
#: households are: a 24-hour clock and no serial comma, as Guardian always wrote it.
LOCALES = {"en": "en_GB", "nl": "nl_NL", "de": "de_DE", "fr": "fr_FR", "es": "es_ES"}
DOMAIN = "guardian"
LOCALE_DIR = Path(__file__).parent / "locale"
log = logging.getLogger(__name__)


def N_(message: str) -> str:  # gettext's name for "extract now, translate later"
    """Marks a message for the catalogs where it is defined; it is translated where shown."""
    return message


def catalog_path(code: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


def known_language(code: str) -> str:
    """`code` if Guardian speaks it; a ValueError that lists the ones it does otherwise."""
    if code not in LANGUAGES:
        known = ", ".join(LANGUAGES)
        raise ValueError(f"not a language Guardian speaks: {code!r} (use one of {known})")
    return code


@dataclass(frozen=True)
class Language:
    """One language's words and formats. Every method returns finished text."""

    code: str
    locale: Locale
    translations: gettext.NullTranslations

    def gettext(self, message: str, /, **values: object) -> str:
        if not message:  # gettext's "" is the catalog's header, never a message
            return message
        return _filled(self.translations.gettext(message), values)

    def pgettext(self, context: str, message: str, /, **values: object) -> str:
        return _filled(self.translations.pgettext(context, message), values)

    def ngettext(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        """The form for `n` by the language's plural rules; `{n}` is `n`."""
        return _filled(self.translations.ngettext(singular, plural, n), {"n": n, **values})

    def npgettext(
        self, context: str, singular: str, plural: str, n: int, /, **values: object
    ) -> str:
        text = self.translations.npgettext(context, singular, plural, n)
        return _filled(text, {"n": n, **values})

    # -- formats (CLDR) ------------------------------------------------------------------

    def time(self, at: datetime, zone: ZoneInfo) -> str:
        """A time of day: `23:00` (`0:20` in Spanish)."""
        return format_time(at, "short", tzinfo=zone, locale=self.locale)

    def time_range(self, first: datetime, last: datetime, zone: ZoneInfo) -> str:
        """Two times of one day: `23:00–23:39` (`23:00–23:39 Uhr` in German)."""
        a, b = first.astimezone(zone), last.astimezone(zone)
        if a.date() != b.date():
            return format_interval(first, last, "Hm", tzinfo=zone, locale=self.locale)
        return _time_range(self.code, a.hour, a.minute, b.hour, b.minute, a == b)

    def day_time(self, at: datetime, zone: ZoneInfo) -> str:
        """A weekday and a time: `Wed 23:50`, `wo 23:50`, `Mi., 23:50`."""
        return format_skeleton("EHm", at, tzinfo=zone, locale=self.locale)

    def formatted(self, at: datetime, zone: ZoneInfo | None, skeleton: str) -> str:
        """An instant as CLDR writes `skeleton` in this language: `EHm` is `di 22:10`, `yMMMd`
        `24 nov 2026`. A date and a time CLDR has no one skeleton for (`MMMEdHm`, a whole
        weekday `EEEEHm`) are each written in their own format, then joined as CLDR joins them."""
        if skeleton in self.locale.datetime_skeletons:
            return format_skeleton(skeleton, at, tzinfo=zone, locale=self.locale)
        date = "".join(c for c in skeleton if c in "yMdE")
        time = "".join(c for c in skeleton if c not in "yMdE")
        if date == "EEEE":  # a skeleton's fields keep their width only in a pattern
            day = format_datetime(at, "EEEE", tzinfo=zone, locale=self.locale)
        else:
            day = format_skeleton(date, at, tzinfo=zone, locale=self.locale)
        if not time:
            return day
        clock = format_skeleton(time, at, tzinfo=zone, locale=self.locale)
        joined: str = self.locale.datetime_formats["medium"]
        return joined.replace("{1}", day).replace("{0}", clock)

    def list(self, items: Iterable[str]) -> str:
        """`Mia, Tom and Sam`, `Mia, Tom en Sam`, `Mia, Tom und Sam`."""
        return format_list(list(items), locale=self.locale)

    def duration(self, delta: timedelta) -> str:
        """`3 minutes`, `1 uur en 30 minuten`; English keeps the settings' spelling (`1h30m`)."""
        if self.code == SOURCE_LANGUAGE:
            return format_duration(delta)
        seconds = int(delta.total_seconds())
        parts = []
        units: tuple[tuple[Literal["day", "hour", "minute", "second"], int], ...] = (
            ("day", 86400),
            ("hour", 3600),
            ("minute", 60),
            ("second", 1),
        )
        for unit, size in units:
            amount, seconds = divmod(seconds, size)
            if amount:
                parts.append(
                    format_timedelta(
                        timedelta(seconds=amount * size),
                        granularity=unit,
                        threshold=1,
                        format="long",
                        locale=self.locale,
                    )
                )
        return format_list(parts, locale=self.locale)


def _filled(text: str, values: dict[str, object]) -> str:
    return text.format(**values) if values else text


@lru_cache(maxsize=8192)
def _time_range(code: str, ah: int, am: int, bh: int, bm: int, same: bool) -> str:
    """CLDR's interval of two times of one day, which depends only on their hours and minutes
    and on whether they are the same instant (format_interval takes ~0.1 ms: a summary writes
    one per sender, and thousands of summaries at 07:00 share the same few hundred)."""
    start = datetime(2000, 1, 1, ah, am, tzinfo=UTC)
    if same:
        end = start
    elif (ah, am) == (bh, bm):  # apart by seconds only: CLDR's fallback, "23:00–23:00"
        end = start + timedelta(seconds=1)
    else:
        end = datetime(2000, 1, 1, bh, bm, tzinfo=UTC)
    return format_interval(start, end, "Hm", tzinfo=UTC, locale=language(code).locale)


@cache
def language(code: str) -> Language:
    """The language of `code` (one of LANGUAGES), its catalog compiled on first use."""
    known_language(code)
    locale = Locale.parse(LOCALES[code])
    if code == SOURCE_LANGUAGE:
        return Language(code, locale, gettext.NullTranslations())
    return Language(code, locale, _compiled(catalog_path(code)))


@cache
def plugin_catalog(code: str, domain: str, locale_dir: Path) -> gettext.NullTranslations:
    """A plugin's own catalog of `code` (`<locale_dir>/<code>/LC_MESSAGES/<domain>.po`, compiled
    in memory, else the `.mo` beside it); English where the plugin has none for `code`, or one
    that cannot be read: a plugin's broken file must not break the page that shows it."""
    known_language(code)
    folder = locale_dir / code / "LC_MESSAGES"
    po, mo = folder / f"{domain}.po", folder / f"{domain}.mo"
    try:
        if po.is_file():
            return _compiled(po, domain)
        if mo.is_file():
            with mo.open("rb") as source:
                return Translations(source, domain=domain)
    except Exception as error:  # a third party's file: anything may be wrong with it
        log.warning("cannot read the %s catalog in %s: %r", domain, folder, error)
    return gettext.NullTranslations()


def _compiled(po: Path, domain: str = DOMAIN) -> Translations:
    """The catalog as gettext reads it, compiled from the `.po` in memory; fuzzy entries are
    left out (they fall back to English), as msgfmt does."""
    with po.open("rb") as source:
        catalog = read_po(source, domain=domain)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=domain)
