"""The example scenarios in examples/ give exactly their expected deliveries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.mark.parametrize(
    ("scenario", "until"),
    [
        # A friend's late-night crisis across SMS, Telegram and WhatsApp: one storm alert to the
        # guardian, one summary for Mia at 07:00, the report at 07:30.
        ("school-night", "2026-11-26T08:00:00+01:00"),
        # Dad writes from the hospital and Grandma (trusted) answers: both break through.
        ("family-emergency", "2026-11-27T08:00:00+01:00"),
        # A week across the end of DST: one summary per quiet window, none doubled or skipped.
        ("dst-week", "2026-10-29T08:00:00+01:00"),
    ],
)
def test_example(scenario: str, until: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "guardian",
            "simulate",
            str(EXAMPLES / f"{scenario}.jsonl"),
            "--config",
            str(EXAMPLES / "settings.toml"),
            "--until",
            until,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    expected = (EXAMPLES / f"{scenario}.expected").read_text()
    assert result.stdout == expected


def test_dst_week_has_one_summary_per_night() -> None:
    lines = (EXAMPLES / "dst-week.expected").read_text().splitlines()
    summaries = [line.split()[0][:10] for line in lines if "  summary  " in line]
    assert summaries == [
        "2026-10-22",
        "2026-10-23",
        "2026-10-24",
        "2026-10-25",
        "2026-10-26",
        "2026-10-27",
        "2026-10-28",
        "2026-10-29",
    ]


SCENARIOS = [
    ("school-night", "2026-11-26T08:00:00+01:00"),
    ("family-emergency", "2026-11-27T08:00:00+01:00"),
    ("dst-week", "2026-10-29T08:00:00+01:00"),
]


@pytest.mark.parametrize("language", ["nl", "de"])
@pytest.mark.parametrize(("scenario", "until"), SCENARIOS)
def test_example_in_another_language(
    scenario: str, until: str, language: str, tmp_path: Path
) -> None:
    """The same household with `household.language` set (here from the environment, as
    `GUARDIAN_HOUSEHOLD__LANGUAGE=nl guardian simulate ...` does): the same deliveries at the
    same times, in Dutch and German (examples/NAME.LANG.expected)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "guardian",
            "simulate",
            str(EXAMPLES / f"{scenario}.jsonl"),
            "--config",
            str(EXAMPLES / "settings.toml"),
            "--until",
            until,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "GUARDIAN_HOUSEHOLD__LANGUAGE": language},
    )
    assert result.returncode == 0, result.stderr
    expected = (EXAMPLES / f"{scenario}.{language}.expected").read_text()
    assert result.stdout == expected
    english = (EXAMPLES / f"{scenario}.expected").read_text().splitlines()
    assert [line.split()[:3] for line in result.stdout.splitlines()] == [
        line.split()[:3] for line in english
    ]
