"""The calm Guardian brings, in the guardians' report: messages that came, interruptions that
reached the phone, since the last report and this week, in every language."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from guardian.summary import Calm, ChildActivity, render_report

ZONE = ZoneInfo("Europe/Amsterdam")


def _child(calm: Calm | None) -> ChildActivity:
    return ChildActivity(
        name="Mia",
        level="counts",
        passed=3,
        held=55,
        quiet_activity=58,
        bursts=[],
        storms=[],
        breakthroughs=[],
        failed_channels=[],
        calm=calm,
    )


@pytest.mark.parametrize(
    ("language", "line"),
    [
        (
            "en",
            "Since the last report: 58 messages, 3 interruptions; "
            "this week: 210 messages, 1 interruption.",
        ),
        (
            "nl",
            "Sinds het vorige rapport: 58 berichten, 3 onderbrekingen; "
            "deze week: 210 berichten, 1 onderbreking.",
        ),
        (
            "de",
            "Seit dem letzten Bericht: 58 Nachrichten, 3 Unterbrechungen; "
            "diese Woche: 210 Nachrichten, 1 Unterbrechung.",
        ),
        (
            "fr",
            "Depuis le dernier rapport : 58 messages, 3 interruptions ; "
            "cette semaine : 210 messages, 1 interruption.",
        ),
        (
            "es",
            "Desde el último informe: 58 mensajes, 3 interrupciones; "
            "esta semana: 210 mensajes, 1 interrupción.",
        ),
    ],
)
def test_the_report_says_how_calm_it_was(language: str, line: str) -> None:
    body = render_report([_child(Calm(58, 3, 210, 1))], ZONE, language=language).body
    assert line in body.splitlines()


def test_without_figures_the_report_is_as_before() -> None:
    body = render_report([_child(None)], ZONE).body
    assert body == "Mia\n3 notifications passed, 55 held.\n58 messages during quiet hours."
