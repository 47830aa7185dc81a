"""The `guardian` command as a user runs it: a real process, real files, real output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SECRET, TOKEN, Receiver, settings_toml

SCENARIOS = Path(__file__).parent / "scenarios"


def guardian(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "guardian", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(
        settings_toml(
            tmp_path / "guardian.db",
            mia_channels=["ntfys://mia:s3cr3t-pass-word@ntfy.example.org/mia-topic", "console://"],
            sam_channels=["pover://userkeyuserkeyuserkeyuserkeyus@apptokenapptokenapptokenappt"],
        )
    )
    return path


def test_check_prints_the_settings_with_secrets_masked(config: Path, tmp_path: Path) -> None:
    result = guardian("check", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout
    assert 'timezone = "Europe/Amsterdam"' in result.stdout
    for secret in (SECRET, TOKEN, "s3cr3t-pass-word", "userkeyuserkey", "apptokenapptoken"):
        assert secret not in result.stdout
    assert 'secret = "**********"' in result.stdout


def test_check_lists_every_error_by_path(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        settings_toml(tmp_path / "g.db").replace('start = "21:30"', 'start = "25:30"')
        + '\n[[sources]]\nid = "x"\nplugin = "nope"\nmember = "nobody"\n'
    )
    result = guardian("check", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "policies.school-night.quiet[0].start: not a time" in result.stderr
    assert "sources[3].member: unknown member 'nobody'" in result.stderr
    assert "sources[3].plugin: unknown plugin 'nope'" in result.stderr
    assert result.stdout == ""


def test_check_refuses_a_channel_that_touches_the_server(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        settings_toml(
            tmp_path / "g.db",
            mia_channels=["console://?file=/home/guardian/.profile"],
            sam_channels=["macosx://"],
        )
    )
    result = guardian("check", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "members[0].channels[0]: console:// writes only to var/deliveries.log" in result.stderr
    assert "members[1].channels[0]: macosx:// runs a program on the server" in result.stderr
    assert ".profile" not in result.stderr  # a channel URL is a secret: never echoed


def test_serve_refuses_a_missing_file_and_says_so(tmp_path: Path) -> None:
    result = guardian("serve", "--config", str(tmp_path / "absent.toml"), cwd=tmp_path)
    assert result.returncode == 2
    assert "settings file not found" in result.stderr


def test_serve_refuses_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(settings_toml(tmp_path / "g.db").replace("Europe/Amsterdam", "Mars/Olympus"))
    result = guardian("serve", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "household.timezone: not an IANA time zone: 'Mars/Olympus'" in result.stderr


def test_config_from_environment_variable(config: Path, tmp_path: Path) -> None:
    result = guardian("check", cwd=tmp_path, env={"GUARDIAN_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr


def test_migrate(config: Path, tmp_path: Path) -> None:
    result = guardian("migrate", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "migrations applied" in result.stdout
    assert (tmp_path / "guardian.db").exists()
    again = guardian("migrate", "--config", str(config), cwd=tmp_path)
    assert again.returncode == 0, again.stderr


def test_migrate_a_file_that_is_not_a_database_says_so(config: Path, tmp_path: Path) -> None:
    (tmp_path / "guardian.db").write_bytes(b"not SQLite at all\n" * 200)
    result = guardian("migrate", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "the migrations could not be applied: DatabaseError: file is not a database" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    served = guardian("serve", "--config", str(config), cwd=tmp_path)
    assert served.returncode == 1, served.stderr
    assert "the migrations could not be applied: DatabaseError" in served.stderr
    assert "Traceback" not in served.stderr


def test_plugins_lists_the_builtin_webhook(tmp_path: Path) -> None:
    result = guardian("plugins", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "KIND", "PACKAGE"]
    assert any(line.split() == ["webhook", "0.1.0", "push", "guardian"] for line in lines)


async def test_send_test_reaches_a_real_receiver(tmp_path: Path, receiver: Receiver) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(settings_toml(tmp_path / "g.db", mia_channels=[receiver.channel("mia")]))
    process = await _run_async("send-test", "mia", "--config", str(path), cwd=tmp_path)
    assert process[0] == 0, process[2]
    assert "SUCCESS" in process[1]
    assert "test delivery 1: sent" in process[1]
    assert len(receiver.received) == 1
    assert receiver.received[0]["title"] == "Guardian test"


async def test_send_test_reports_a_failing_channel(tmp_path: Path, receiver: Receiver) -> None:
    receiver.fail_with = 500
    path = tmp_path / "settings.toml"
    path.write_text(settings_toml(tmp_path / "g.db", mia_channels=[receiver.channel("mia")]))
    code, out, _ = await _run_async("send-test", "mia", "--config", str(path), cwd=tmp_path)
    assert code == 1
    assert "FAILURE" in out


async def test_send_test_unknown_member(config: Path, tmp_path: Path) -> None:
    code, _, err = await _run_async("send-test", "nobody", "--config", str(config), cwd=tmp_path)
    assert code == 1
    assert "no member 'nobody'" in err


async def _run_async(*args: str, cwd: Path) -> tuple[int, str, str]:
    """Run the CLI without blocking the event loop (the receiver lives on it)."""
    import asyncio

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "guardian",
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def test_simulate_a_school_night(config: Path, tmp_path: Path) -> None:
    result = guardian(
        "simulate",
        str(SCENARIOS / "school-night.jsonl"),
        "--config",
        str(config),
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    deliveries = [json.loads(line) for line in result.stdout.splitlines()]
    assert deliveries == [
        {
            "at": "2026-11-25T15:00:00Z",
            "member": "mia",
            "kind": "forward",
            "title": "Sophie (sms)",
            "body": "New message from Sophie.",
        },
        {
            "at": "2026-11-26T06:00:00Z",
            "member": "mia",
            "kind": "summary",
            "title": "While you were away: 4 messages from 2 people",
            "body": "Sophie: 3 messages, 23:00–23:40\nNoor: 1 message, 23:20",
        },
    ]
    assert not (tmp_path / "guardian.db").exists()  # a throwaway database


def test_simulate_text_output_and_until(config: Path, tmp_path: Path) -> None:
    result = guardian(
        "simulate",
        str(SCENARIOS / "school-night.jsonl"),
        "--config",
        str(config),
        "--until",
        "2026-11-26T06:00:00+01:00",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "2026-11-25T16:00+01:00  mia  forward  Sophie (sms)  New message from Sophie."
    ]


def test_simulate_reports_a_bad_scenario_by_line(config: Path, tmp_path: Path) -> None:
    scenario = tmp_path / "bad.jsonl"
    scenario.write_text(
        '{"at": "2026-11-25T16:00:00+01:00", "source": "mia-phone", "message": {"id": "1"}}\n'
        "not json\n"
        '{"at": "2026-11-25T16:00:00+01:00", "source": "nope", "message": '
        '{"id": "1", "from": {"id": "x"}}}\n'
    )
    result = guardian("simulate", str(scenario), "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "line 1: message.from: Field required" in result.stderr
    assert "line 2: not JSON" in result.stderr
    assert "line 3: source: unknown source 'nope'" in result.stderr


def test_check_refuses_an_unknown_language_by_its_path(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    text = settings_toml(tmp_path / "g.db")
    path.write_text(text.replace("[household]\n", '[household]\nlanguage = "xx"\n', 1))
    result = guardian("check", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "household.language: not a language Guardian speaks: 'xx'" in result.stderr
    path.write_text(text.replace("[household]\n", '[household]\nlanguage = "nl"\n', 1))
    result = guardian("check", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'language = "nl"' in result.stdout
