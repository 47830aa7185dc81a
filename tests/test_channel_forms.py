"""The channel forms build Apprise URLs that Apprise reads as the service they name, and that
Guardian accepts as a channel; what a form refuses is said in words, and secrets are not kept."""

from __future__ import annotations

import apprise
import pytest

from guardian.channels import failure_reason, refusal
from guardian.dashboard.channel_forms import BY_ID, build, describe, kept

CASES = [
    ("ntfy", {"topic": "mia-guardian-7f3k"}, "ntfys://ntfy.sh/mia-guardian-7f3k", "NotifyNtfy"),
    (
        "ntfy",
        {"topic": "mia", "server": "http://ntfy.home.lan:8081", "token": "tk_abc123"},
        "ntfy://ntfy.home.lan:8081/mia?token=tk_abc123",
        "NotifyNtfy",
    ),
    (
        "telegram",
        {"bot_token": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "chat_id": "99887766"},
        "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/99887766",
        "NotifyTelegram",
    ),
    (
        "email",
        {
            "to": "mia@example.org",
            "smtp": "smtp.example.org",
            "port": "587",
            "username": "sam@example.org",
            "password": "p@ss word",
        },
        "mailtos://smtp.example.org:587?user=sam%40example.org&pass=p%40ss+word"
        "&to=mia%40example.org&from=sam%40example.org",
        "NotifyEmail",
    ),
    (
        "pushover",
        {"user_key": "u" * 30, "app_token": "a" * 30},
        f"pover://{'u' * 30}@{'a' * 30}",
        "NotifyPushover",
    ),
    (
        "signal",
        {"server": "http://127.0.0.1:8080", "sender": "+31 6 1234 5678", "to": "+31687654321"},
        "signal://127.0.0.1:8080/+31612345678/+31687654321",
        "NotifySignalAPI",
    ),
]


@pytest.mark.parametrize(("service", "typed", "url", "apprise_class"), CASES)
def test_each_form_builds_the_url_of_its_service(
    service: str, typed: dict[str, str], url: str, apprise_class: str
) -> None:
    built, errors = build(service, typed)
    assert errors == {}
    assert built == url
    assert refusal(built) is None  # Guardian reads a URL (and loads its service) first
    instance = apprise.Apprise.instantiate(built, suppress_exceptions=True)
    assert type(instance).__name__ == apprise_class
    name, shown = describe(instance.url(privacy=True))
    assert name in BY_ID[service].name or name == "E-mail"
    assert "?" not in shown


def test_a_refused_form_says_why_in_words_and_keeps_no_secret() -> None:
    built, errors = build("telegram", {"bot_token": "nope", "chat_id": ""})
    assert built is None
    assert errors["bot_token"].startswith("This is not a bot token")
    assert errors["chat_id"] == "Fill this in."
    assert kept("telegram", {"bot_token": "nope", "chat_id": "12"}) == {"chat_id": "12"}
    _, phone = build("signal", {"server": "localhost:8080", "sender": "0612", "to": "x"})
    assert phone["sender"] == "Write the number with its country code, like +31612345678."


@pytest.mark.parametrize(
    ("logged", "said"),
    [
        (
            ["A Connection error occurred sending JSON notification to 10.0.0.7."],
            "could not connect",
        ),
        (["Failed to send JSON POST notification: Verification Failed., error=401."], "error 401"),
        (["Failed to send ntfy notification to topic 'x': Page not found., error=404."], "404"),
        (["Failed to send JSON POST notification: Internal server error., error=503."], "its side"),
        ([], "did not take the message"),
    ],
)
def test_a_failed_send_is_said_in_plain_words_without_the_channels_details(
    logged: list[str], said: str
) -> None:
    reason = failure_reason(logged)
    assert said in reason
    assert "10.0.0.7" not in reason and "topic 'x'" not in reason
