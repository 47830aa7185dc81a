"""What members and guardians receive in Dutch, German, French and Spanish, at every level.

The English texts are tests/test_summary.py's; these are the same stories in the other
languages (Amsterdam time, 25 November 2026 is a Wednesday), the privacy rules checked in every
language, and names in right-to-left scripts kept from turning the sentence around them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import pytest

from guardian.i18n import LANGUAGES
from guardian.summary import (
    FSI,
    LEVELS,
    PDI,
    TITLE_CHARS,
    Rendered,
    leaks,
    reason_at_level,
    render_breakthrough,
    render_burst_notice,
    render_failure_report,
    render_forward,
    render_report,
    render_storm_alert,
    render_summary,
    render_test,
)
from tests.test_summary import (
    AMS,
    FORBIDDEN,
    GRANDMA,
    NAMES,
    NIGHT,
    REASON,
    SCHOOL_NIGHT,
    at,
    mia,
    msg,
)

OTHERS = [code for code in LANGUAGES if code != "en"]


@pytest.mark.parametrize(
    ("language", "level", "title", "body"),
    [
        (
            "nl",
            "senders",
            "Terwijl je weg was: 4 berichten van 2 personen",
            "Sophie: 3 berichten, 23:00–23:40\nNoor: 1 bericht, 23:20",
        ),
        (
            "nl",
            "counts",
            "Terwijl je weg was: 4 berichten van 2 personen",
            "Iemand: 3 berichten, 23:00–23:40\nIemand: 1 bericht, 23:20",
        ),
        (
            "de",
            "preview",
            "In der Zwischenzeit: 4 Nachrichten von 2 Personen",
            "Sophie: 3 Nachrichten, 23:00–23:40 Uhr — „ok good night“\n"
            "Noor: 1 Nachricht, 23:20 — „did you do the maths homework“",
        ),
        (
            "fr",
            "senders",
            "Pendant ton absence\u00a0: 4 messages de 2 personnes",
            "Sophie\u00a0: 3 messages, 23:00\u2009–\u200923:40\nNoor\u00a0: 1 message, 23:20",
        ),
        (
            "es",
            "senders",
            "Mientras no estabas: 4 mensajes de 2 personas",
            "Sophie: 3 mensajes, 23:00–23:40\nNoor: 1 mensaje, 23:20",
        ),
    ],
)
def test_a_school_night_summary(language: str, level: str, title: str, body: str) -> None:
    rendered = render_summary(SCHOOL_NIGHT, level, AMS, language=language)
    assert (rendered.title, rendered.body) == (title, body)


def test_the_issue_s_dutch_child_and_german_parent() -> None:
    forty = [msg("Sophie", f"23:{minute:02d}", "are you awake?") for minute in range(40)]
    forty[-1] = msg("Sophie", "23:39", "are you awake?")
    summary = render_summary(forty, "senders", AMS, language="nl")
    assert summary.body == "Sophie: 40 berichten, 23:00–23:39"
    storm = render_storm_alert(
        "Mia", "Sophie", 40, at("23:00"), at("23:39"), AMS, "counts", language="de"
    )
    assert storm.title == "Viele Nachrichten für Mia heute Nacht"


def test_a_summary_across_midnight_and_a_busy_group_chat() -> None:
    night = [msg("Sophie", "23:50", "a"), msg("Sophie", "2026-11-26 00:20", "b")]
    assert render_summary(night, "counts", AMS, language="nl").body == (
        "Iemand: 2 berichten, wo 23:50 – do 00:20"
    )
    chat = [
        msg(name, f"21:{n:02d}", "x", "whatsapp", chat="Klas 3B")
        for n, name in enumerate(["Noor", "Daan", "Sophie", "Grandma"])
    ]
    assert render_summary(chat, "senders", AMS, language="de").body == (
        "Grandma, Sophie und 2 weitere in Klas 3B: 4 Nachrichten, 21:00–21:03 Uhr"
    )
    assert render_summary(chat, "counts", AMS, language="es").body == (
        "Un grupo: 4 mensajes de 4 personas, 21:00–21:03"
    )


@pytest.mark.parametrize(
    ("language", "level", "reason", "title", "body"),
    [
        (
            "nl",
            "counts",
            "keyword “hospital”",
            "Dringend bericht",
            "Je hebt 1 dringend bericht. Doorgelaten tijdens de stille uren: een alarmwoord.",
        ),
        (
            "nl",
            "senders",
            "keyword “ziekenhuis”",
            "Dringend: Grandma (sms)",
            "Dringend bericht van Grandma.\n"
            "Doorgelaten tijdens de stille uren: alarmwoord “ziekenhuis”.",
        ),
        (
            "de",
            "preview",
            "trusted contact",
            "Dringend: Grandma (sms)",
            "I fell, I am in the hospital, call me\nTrotz Ruhezeit zugestellt: vertrauter Kontakt.",
        ),
        (
            "fr",
            "senders",
            "repeated contact: 4 messages within 3m",
            "Urgent\u00a0: Grandma (sms)",
            "Grandma t’a envoyé un message urgent.\n"
            "Transmis malgré les heures calmes\u00a0: messages répétés (4 en 3 minutes).",
        ),
        (
            "es",
            "counts",
            "repeated contact: 4 messages within 3m",
            "Mensaje urgente",
            "Tienes 1 mensaje urgente. Llegó pese a las horas de silencio: mensajes repetidos.",
        ),
    ],
)
def test_a_breakthrough_says_why_in_the_member_s_language(
    language: str, level: str, reason: str, title: str, body: str
) -> None:
    rendered = render_breakthrough(GRANDMA, level, reason, language=language)
    assert rendered == Rendered(title, body, "warning")


def test_a_reason_that_is_none_of_the_policy_s_is_shown_as_it_is() -> None:
    assert reason_at_level("Grandma said so", "senders", language="de") == "Grandma said so"
    assert reason_at_level("Grandma said so", "counts", language="de") == "eine Ausnahmeregel"
    assert reason_at_level("keyword “hospital”", "senders") == "keyword “hospital”"


@pytest.mark.parametrize(
    ("language", "level", "final", "title", "body"),
    [
        (
            "nl",
            "senders",
            False,
            "Meer berichten van Sophie",
            "Sophie stuurde nog 12 berichten, 22:10–22:31.",
        ),
        (
            "nl",
            "counts",
            True,
            "Meer berichten",
            "Van 1 persoon: nog 12 berichten, 22:10–22:31 (nu gestopt).",
        ),
        (
            "de",
            "senders",
            True,
            "Weitere Nachrichten von Sophie",
            "Sophie hat 12 weitere Nachrichten geschickt, 22:10–22:31 Uhr (jetzt vorbei).",
        ),
        (
            "fr",
            "senders",
            False,
            "Sophie écrit encore",
            "Sophie a envoyé 12 messages de plus, 22:10\u2009–\u200922:31.",
        ),
        ("es", "counts", False, "Más mensajes", "12 mensajes más de 1 persona, 22:10–22:31."),
    ],
)
def test_a_burst_notice(language: str, level: str, final: bool, title: str, body: str) -> None:
    rendered = render_burst_notice(
        "Sophie", 12, at("22:10"), at("22:31"), AMS, level, final=final, language=language
    )
    assert rendered == Rendered(title, body)


@pytest.mark.parametrize(
    ("language", "when", "title"),
    [
        ("nl", "10:20", "Veel berichten voor Mia vanochtend"),
        ("nl", "19:00", "Veel berichten voor Mia vanavond"),
        ("de", "15:00", "Viele Nachrichten für Mia heute Nachmittag"),
        ("de", "19:00", "Viele Nachrichten für Mia heute Abend"),
        ("fr", "23:25", "Beaucoup de messages pour Mia cette nuit"),
        ("es", "23:25", "Muchos mensajes para Mia esta noche"),
    ],
)
def test_a_storm_alert_names_the_part_of_the_day(language: str, when: str, title: str) -> None:
    rendered = render_storm_alert(
        "Mia", "Sophie", 20, at("10:00"), at(when), AMS, "senders", language=language
    )
    assert rendered.title == title


def test_a_storm_alert_body() -> None:
    nl = render_storm_alert(
        "Mia", "Sophie", 20, at("23:00"), at("23:25"), AMS, "senders", language="nl"
    )
    assert nl.body == "Sophie stuurde Mia 20 berichten tussen 23:00 en 23:25."
    de = render_storm_alert(
        "Mia", "Sophie", 20, at("23:00"), at("23:00"), AMS, "counts", language="de"
    )
    assert de.body == "Mia hat um 23:00 Uhr 20 Nachrichten von einer Person bekommen."


def test_a_report_in_dutch_and_german() -> None:
    nl = render_report([mia("senders")], AMS, language="nl")
    assert nl.title == "Guardian-rapport: Mia"
    assert nl.body == (
        "Mia\n"
        "3 meldingen doorgelaten, 40 vastgehouden.\n"
        "41 berichten tijdens de stille uren.\n"
        "Achter elkaar: Sophie stuurde 12 berichten, 22:10–22:31.\n"
        "Berichtenstorm: Sophie stuurde 20 berichten, 23:00–23:25.\n"
        "Doorgelaten om 23:10: Grandma (alarmwoord “hospital”).\n"
        "Kanalen die niet werkten: ntfy://n/****.\n"
        "Wacht nog:\n"
        "  Noor in Class 3B: 1 bericht, 23:30\n"
        "  Sophie: 2 berichten, 23:00–23:25"
    )
    de = render_report([mia("counts"), mia("counts")], AMS, markdown=True, language="de")
    assert de.title == "Guardian-Bericht: Mia und Mia"
    assert de.body.split("\n\n")[0] == (
        "**Mia**\n"
        "- 3 Benachrichtigungen durchgelassen, 40 zurückgehalten.\n"
        "- 41 Nachrichten während der Ruhezeit.\n"
        "- Nachrichtenschwall: jemand hat 12 Nachrichten geschickt, 22:10–22:31 Uhr.\n"
        "- Nachrichtensturm: eine Person hat 20 Nachrichten geschickt, 23:00–23:25 Uhr.\n"
        "- Um 23:10 Uhr zugestellt (ein Notfallwort).\n"
        "- Kanäle mit Fehlern: ntfy://n/\\*\\*\\*\\*."
    )
    assert render_report([], AMS, language="fr").body == "Rien à signaler."


@pytest.mark.parametrize(
    ("language", "error", "body"),
    [
        (
            "en",
            "gave up after 8 attempts",
            "A summary for Mia could not be delivered: gave up after 8 attempts. "
            "Check the channel on the dashboard or with `guardian send-test`.",
        ),
        (
            "nl",
            "gave up after 8 attempts",
            "Een samenvatting voor Mia kon niet worden bezorgd: opgegeven na 8 pogingen. "
            "Controleer het kanaal op het dashboard of met `guardian send-test`.",
        ),
        (
            "de",
            "gave up after 1d",
            "Eine Zusammenfassung für Mia konnte nicht zugestellt werden: nach 1 Tag aufgegeben. "
            "Prüfe den Kanal im Dashboard oder mit `guardian send-test`.",
        ),
        (
            "es",
            "misconfigured channel: json://x/****",
            "Un resumen para Mia no se pudo entregar: canal mal configurado: json://x/****. "
            "Revisa el canal en el panel o con `guardian send-test`.",
        ),
        (
            "fr",
            "something new",
            "Un résumé pour Mia\u00a0: échec de l’envoi (something new). "
            "Vérifie le canal dans le tableau de bord ou avec `guardian send-test`.",
        ),
    ],
)
def test_a_failure_report(language: str, error: str, body: str) -> None:
    rendered = render_failure_report("Mia", "summary", error, language=language)
    assert rendered.body == body
    assert rendered.notify_type == "failure"


def test_test_sends() -> None:
    assert render_test("Mia") == Rendered(
        "Guardian test", "Hello Mia, this is a test from Guardian. Your channel works."
    )
    assert render_test("Mia", this_channel=True, language="de") == Rendered(
        "Guardian-Test", "Hallo Mia, das ist ein Test von Guardian. Dieser Kanal funktioniert."
    )


# -- privacy, in every language ------------------------------------------------------------


def renderers(language: str) -> dict[str, Callable[[str], Rendered]]:
    def report(level: str) -> Rendered:
        child = mia(level)
        return render_report([child], AMS, language=language)

    return {
        "forward": lambda level: render_forward(NIGHT[2], level, language=language),
        "breakthrough": lambda level: render_breakthrough(
            msg("Grandma", "23:40", "take me to the hospital"), level, REASON, language=language
        ),
        "summary": lambda level: render_summary(NIGHT, level, AMS, language=language),
        "summary in Markdown": lambda level: render_summary(
            NIGHT, level, AMS, markdown=True, language=language
        ),
        "burst notice": lambda level: render_burst_notice(
            "Sophie", 5, at("22:00"), at("22:10"), AMS, level, final=True, language=language
        ),
        "storm alert": lambda level: render_storm_alert(
            "Mia", "Sophie", 20, at("23:00"), at("23:30"), AMS, level, language=language
        ),
        "report": report,
    }


@pytest.mark.parametrize("language", OTHERS)
@pytest.mark.parametrize("level", LEVELS)
def test_nothing_beyond_the_level_is_shown_in_any_language(language: str, level: str) -> None:
    for name, render in renderers(language).items():
        rendered = render(level)
        assert leaks(rendered, FORBIDDEN[level]) == [], (name, rendered)
        assert len(rendered.title) <= TITLE_CHARS, name
        if level != "counts":
            assert leaks(rendered, [*NAMES, "Sophie"]), name
        english = renderers("en")[name](level)
        assert rendered.notify_type == english.notify_type
        assert rendered.body_format == english.body_format


# -- right-to-left names -------------------------------------------------------------------

SARA = "سارة"  # Arabic
NOA = "נועה"  # Hebrew


def _reading_order_is_kept(line: str) -> bool:
    """Every right-to-left run is inside an isolate, so nothing around it is reordered."""
    depth = 0
    for char in line:
        if char == FSI:
            depth += 1
        elif char == PDI:
            depth -= 1
        elif depth == 0 and unicodedata.bidirectional(char) in ("R", "AL", "AN"):
            return False
    return depth == 0


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("markdown", [False, True])
def test_right_to_left_names_are_isolated_in_every_language(language: str, markdown: bool) -> None:
    held = [
        msg(SARA, "23:00", "هل أنت مستيقظة؟", "whatsapp"),
        msg(SARA, "23:05", "ردّي عليّ", "whatsapp"),
        msg(NOA, "23:10", "שלום", "telegram", chat="כיתה ג"),
        msg("Sophie", "23:20", "are you awake?"),
    ]
    for level in ("senders", "preview"):
        rendered = render_summary(held, level, AMS, markdown=markdown, language=language)
        for line in [rendered.title, *rendered.body.splitlines()]:
            assert _reading_order_is_kept(line), (level, line)
        assert f"{FSI}{SARA}{PDI}" in rendered.body
    line = render_summary(held[:2], "senders", AMS, language=language).body
    assert line.startswith(f"{FSI}{SARA}{PDI}")  # the count and times follow it, unmoved


@pytest.mark.parametrize("language", LANGUAGES)
def test_right_to_left_names_in_notices_and_reports(language: str) -> None:
    texts = [
        render_forward(msg(SARA, "16:00", "x", "whatsapp"), "senders", language=language),
        render_breakthrough(
            msg(NOA, "23:00", "x"), "senders", "keyword “חירום”", language=language
        ),
        render_burst_notice(
            SARA, 5, at("22:00"), at("22:10"), AMS, "senders", final=False, language=language
        ),
        render_storm_alert(
            NOA, SARA, 20, at("23:00"), at("23:30"), AMS, "senders", language=language
        ),
        render_failure_report(SARA, "summary", "gave up after 8 attempts", language=language),
        render_test(NOA, language=language),
    ]
    for rendered in texts:
        for line in [rendered.title, *rendered.body.splitlines()]:
            assert _reading_order_is_kept(line), line


def test_a_long_right_to_left_name_is_cut_and_still_closed() -> None:
    long_name = SARA * 30
    rendered = render_summary([msg(long_name, "23:00", "x")], "senders", AMS, language="nl")
    assert len(rendered.title) <= TITLE_CHARS
    assert rendered.title.endswith(f"…{PDI}")
    assert _reading_order_is_kept(rendered.title)


def test_a_stray_direction_control_is_contained() -> None:
    sneaky = "Eve\u202egnp.exe"  # RIGHT-TO-LEFT OVERRIDE: would reverse the rest of the line
    body = render_summary([msg(sneaky, "23:00", "x")], "senders", AMS).body
    assert body == f"{FSI}{sneaky}{PDI}: 1 message, 23:00"


def test_latin_names_are_not_touched() -> None:
    body = render_summary(
        [msg("Zoë", "23:00", "x"), msg("李雷", "23:05", "y")], "senders", AMS
    ).body
    assert FSI not in body and PDI not in body
