"""Each language's words come from its catalog, its plural rules and formats from CLDR."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_interval
from hypothesis import assume, given
from hypothesis import strategies as st

from guardian import i18n

AMS = ZoneInfo("Europe/Amsterdam")
EVENING = datetime(2026, 11, 25, 23, 0, tzinfo=AMS)  # a Wednesday
LATER = datetime(2026, 11, 25, 23, 39, tzinfo=AMS)
AFTER_MIDNIGHT = datetime(2026, 11, 26, 0, 20, tzinfo=AMS)


@pytest.mark.parametrize(
    ("code", "time", "after_midnight", "span", "weekday", "names"),
    [
        # English as Guardian always wrote it: 24 hours, no serial comma.
        ("en", "23:00", "00:20", "23:00–23:39", "Wed 23:00", "Mia, Tom and Sam"),
        ("nl", "23:00", "00:20", "23:00–23:39", "wo 23:00", "Mia, Tom en Sam"),
        ("de", "23:00", "00:20", "23:00–23:39 Uhr", "Mi., 23:00", "Mia, Tom und Sam"),
        ("fr", "23:00", "00:20", "23:00\u2009–\u200923:39", "mer. 23:00", "Mia, Tom et Sam"),
        ("es", "23:00", "0:20", "23:00–23:39", "mié, 23:00", "Mia, Tom y Sam"),
    ],
)
def test_formats_are_cldr_s(
    code: str, time: str, after_midnight: str, span: str, weekday: str, names: str
) -> None:
    t = i18n.language(code)
    assert t.time(EVENING, AMS) == time
    assert t.time(AFTER_MIDNIGHT, AMS) == after_midnight
    assert t.time_range(EVENING, LATER, AMS) == span
    assert t.day_time(EVENING, AMS) == weekday
    assert t.list(["Mia", "Tom", "Sam"]) == names
    assert t.list(["Mia"]) == "Mia"


def test_times_are_shown_in_the_household_zone() -> None:
    utc = EVENING.astimezone(ZoneInfo("UTC"))
    assert i18n.language("nl").time(utc, AMS) == "23:00"
    assert i18n.language("nl").time(utc, ZoneInfo("Europe/London")) == "22:00"


@pytest.mark.parametrize(
    ("code", "counts"),
    [
        ("en", {0: "0 messages", 1: "1 message", 2: "2 messages"}),
        ("nl", {0: "0 berichten", 1: "1 bericht", 2: "2 berichten"}),
        ("de", {0: "0 Nachrichten", 1: "1 Nachricht", 2: "2 Nachrichten"}),
        # French counts zero as one, and a round million takes "de".
        ("fr", {0: "0 message", 1: "1 message", 2: "2 messages", 1000000: "1000000 de messages"}),
        ("es", {0: "0 mensajes", 1: "1 mensaje", 2: "2 mensajes", 1000000: "1000000 de mensajes"}),
    ],
)
def test_plural_rules_are_the_language_s(code: str, counts: dict[int, str]) -> None:
    t = i18n.language(code)
    assert {n: t.ngettext("{n} message", "{n} messages", n) for n in counts} == counts


@pytest.mark.parametrize(
    ("code", "delta", "shown"),
    [
        ("en", timedelta(minutes=3), "3m"),  # as the settings spell it, as before
        ("en", timedelta(hours=1, minutes=30), "1h30m"),
        ("nl", timedelta(minutes=3), "3 minuten"),
        ("nl", timedelta(hours=1, minutes=30), "1 uur en 30 minuten"),
        ("de", timedelta(days=1), "1 Tag"),
        ("fr", timedelta(seconds=90), "1 minute et 30\u00a0secondes"),
        ("es", timedelta(hours=2), "2 horas"),
    ],
)
def test_durations(code: str, delta: timedelta, shown: str) -> None:
    assert i18n.language(code).duration(delta) == shown


def test_context_and_values() -> None:
    de = i18n.language("de")
    assert de.pgettext("night", "Many messages for {child} tonight", child="Mia") == (
        "Viele Nachrichten für Mia heute Nacht"
    )
    assert de.pgettext("evening", "Many messages for {child} tonight", child="Mia") == (
        "Viele Nachrichten für Mia heute Abend"
    )
    # A value is put in as it is, never read as a pattern itself.
    assert de.gettext("Hello {name}, this is a test from Guardian. Your channel works.", name="{x}")
    assert i18n.language("en").gettext("Guardian test") == "Guardian test"


def test_an_unknown_message_stays_english() -> None:
    assert i18n.language("nl").gettext("Not a message of Guardian") == "Not a message of Guardian"


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match=r"not a language Guardian speaks: 'xx' \(use one of en"):
        i18n.language("xx")


def test_a_catalog_is_compiled_from_its_po_and_skips_fuzzy_entries(tmp_path: Path) -> None:
    po = tmp_path / "guardian.po"
    po.write_text(
        'msgid ""\n'
        'msgstr ""\n'
        '"Content-Type: text/plain; charset=utf-8\\n"\n'
        '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n'
        "\n"
        'msgid "Nothing to report."\n'
        'msgstr "Niets te melden."\n'
        "\n"
        "#, fuzzy\n"
        'msgid "Waiting:"\n'
        'msgstr "Wachtend?"\n',
        encoding="utf-8",
    )
    translations = i18n._compiled(po)
    assert translations.gettext("Nothing to report.") == "Niets te melden."
    assert translations.gettext("Waiting:") == "Waiting:"


@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
    ),
    apart=st.one_of(
        st.sampled_from([0, 1, 59, 60, 61, 3600]), st.integers(min_value=0, max_value=86_400)
    ),
    zone=st.sampled_from(["Europe/Amsterdam", "America/New_York", "Asia/Kolkata"]),
    code=st.sampled_from(i18n.LANGUAGES),
)
def test_a_time_range_reads_as_cldr_writes_it(
    start: datetime, apart: int, zone: str, code: str
) -> None:
    """time_range keeps CLDR's intervals by hours and minutes (format_interval is slow): the
    same text as format_interval for every pair of one day, seconds apart included."""
    end, where = start + timedelta(seconds=apart), ZoneInfo(zone)
    assume(start.astimezone(where).date() == end.astimezone(where).date())
    t = i18n.language(code)
    expected = format_interval(start, end, "Hm", tzinfo=where, locale=t.locale)
    assert t.time_range(start, end, where) == expected
