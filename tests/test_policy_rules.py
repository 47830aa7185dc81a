"""The policy's rules, one table per rule; each row a small story with times (Amsterdam, UTC+1).

Mia's nights are quiet from 21:30 to 07:00. Times are local on Wednesday 25 November 2026.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guardian.policy import Action, Seen, SenderState, StormStep, decide, matching_keyword
from guardian.policy_settings import PolicySettings

AMS = ZoneInfo("Europe/Amsterdam")
POLICY = PolicySettings.model_validate(
    {
        "quiet": [{"days": "daily", "start": "21:30", "end": "07:00"}],
        "burst": {"limit": 3, "per": "10m", "notice_every": "15m"},
        "breakthrough": {
            "keywords": ["emergency", "Notfall", "urgência", "call me now"],
            "repeated": {"count": 3, "within": "5m"},
        },
        "storm": {"count": 5, "within": "30m", "alert_guardians": True},
    }
)


def local(hhmm: str) -> datetime:
    hour, minute = map(int, hhmm.split(":"))
    return datetime(2026, 11, 25, hour, minute, tzinfo=AMS).astimezone(UTC)


def seen(*times: str, action: Action = Action.FORWARD, reason: str = "", quiet: bool = False):
    return [Seen(local(t), action, reason, quiet) for t in times]


def after(recent: list[Seen], policy: PolicySettings = POLICY) -> SenderState:
    """The sender state the database would hold after these notifications."""
    return SenderState.replayed(policy, recent)


@pytest.mark.parametrize(
    ("story", "trust", "text", "now", "recent", "action", "reason"),
    [
        (
            "a normal message at 16:00 passes",
            "normal",
            "hi",
            "16:00",
            [],
            Action.FORWARD,
            "outside quiet hours",
        ),
        ("the same at 23:00 is held", "normal", "hi", "23:00", [], Action.HOLD, "quiet hours"),
        (
            "a muted contact is held even in the afternoon",
            "muted",
            "hi",
            "16:00",
            [],
            Action.HOLD,
            "muted contact",
        ),
        (
            "a muted contact's emergency is still not pushed",
            "muted",
            "emergency!",
            "23:00",
            [],
            Action.HOLD,
            "muted contact",
        ),
        (
            "grandma (trusted) breaks through at 23:00",
            "trusted",
            "hi",
            "23:00",
            [],
            Action.BREAKTHROUGH,
            "trusted contact",
        ),
        (
            "a keyword breaks through at 23:00",
            "normal",
            "this is an EMERGENCY",
            "23:00",
            [],
            Action.BREAKTHROUGH,
            "keyword “emergency”",
        ),
        (
            "keywords match across case and accents",
            "normal",
            "Urgencia, por favor",
            "23:00",
            [],
            Action.BREAKTHROUGH,
            "keyword “urgência”",
        ),
        (
            "a German keyword in lower case",
            "normal",
            "ein notfall!",
            "23:00",
            [],
            Action.BREAKTHROUGH,
            "keyword “Notfall”",
        ),
        (
            "a phrase keyword",
            "normal",
            "please  CALL me now",
            "23:00",
            [],
            Action.BREAKTHROUGH,
            "keyword “call me now”",
        ),
        (
            "a keyword inside another word does not count",
            "normal",
            "emergencyroom",
            "23:00",
            [],
            Action.HOLD,
            "quiet hours",
        ),
        (
            "the third message within 5 minutes breaks through",
            "normal",
            "hey",
            "23:04",
            seen("23:00", "23:02", action=Action.HOLD, quiet=True),
            Action.BREAKTHROUGH,
            "repeated contact: 3 messages within 5m",
        ),
        (
            "spread over more than 5 minutes they stay held",
            "normal",
            "hey",
            "23:06",
            seen("23:00", "23:02", action=Action.HOLD, quiet=True),
            Action.HOLD,
            "quiet hours",
        ),
        (
            "after a repeated breakthrough the same episode stays held",
            "normal",
            "hey",
            "23:05",
            [
                *seen("23:00", "23:02", action=Action.HOLD, quiet=True),
                *seen(
                    "23:04",
                    action=Action.BREAKTHROUGH,
                    reason="repeated contact: 3 messages within 5m",
                    quiet=True,
                ),
            ],
            Action.HOLD,
            "quiet hours",
        ),
        (
            "a new episode after 5 quiet minutes may break through again",
            "normal",
            "hey",
            "23:24",
            [
                *seen("23:00", "23:02", action=Action.HOLD, quiet=True),
                *seen(
                    "23:04",
                    action=Action.BREAKTHROUGH,
                    reason="repeated contact: 3 messages within 5m",
                    quiet=True,
                ),
                *seen("23:20", "23:22", action=Action.HOLD, quiet=True),
            ],
            Action.BREAKTHROUGH,
            "repeated contact: 3 messages within 5m",
        ),
    ],
)
def test_breakthrough_mute_and_quiet(
    story: str, trust: str, text: str, now: str, recent: list[Seen], action: Action, reason: str
) -> None:
    decision = decide(POLICY, AMS, local(now), trust=trust, text=text, state=after(recent))
    assert (decision.action, decision.reason) == (action, reason)


NO_REPEAT = POLICY.model_copy(
    update={"breakthrough": POLICY.breakthrough.model_copy(update={"repeated": None})}
)


@pytest.mark.parametrize(
    ("story", "now", "recent", "action"),
    [
        (
            "third message in 10 minutes still passes",
            "16:09",
            seen("16:00", "16:05"),
            Action.FORWARD,
        ),
        ("the fourth is folded", "16:09", seen("16:00", "16:05", "16:08"), Action.FOLD),
        (
            "folded ones count too",
            "16:12",
            [*seen("16:03", "16:05"), *seen("16:08", action=Action.FOLD)],
            Action.FOLD,
        ),
        (
            "after 10 quiet minutes it passes again",
            "16:30",
            seen("16:00", "16:05", "16:08"),
            Action.FORWARD,
        ),
        (
            "a keyword breaks through a burst",
            "16:09",
            seen("16:00", "16:05", "16:08"),
            Action.BREAKTHROUGH,
        ),
    ],
)
def test_bursts(story: str, now: str, recent: list[Seen], action: Action) -> None:
    text = "emergency" if "keyword" in story else "hi"
    state = after(recent, NO_REPEAT)
    assert decide(NO_REPEAT, AMS, local(now), text=text, state=state).action is action


@pytest.mark.parametrize(
    ("story", "now", "recent", "storm"),
    [
        (
            "four in quiet hours: no storm yet",
            "23:10",
            seen("23:00", "23:03", "23:06", action=Action.HOLD, quiet=True),
            False,
        ),
        (
            "the fifth within 30 minutes starts a storm",
            "23:12",
            seen("23:00", "23:03", "23:06", "23:09", action=Action.HOLD, quiet=True),
            True,
        ),
        (
            "the sixth is the same storm, not a new one",
            "23:14",
            seen("23:00", "23:03", "23:06", "23:09", "23:12", action=Action.HOLD, quiet=True),
            False,
        ),
        (
            "five spread over more than 30 minutes are no storm",
            "23:45",
            seen("23:00", "23:12", "23:24", "23:36", action=Action.HOLD, quiet=True),
            False,
        ),
        ("daytime messages do not count", "23:12", seen("21:00", "21:03", "21:06", "21:09"), False),
    ],
)
def test_storms(story: str, now: str, recent: list[Seen], storm: bool) -> None:
    decision = decide(NO_REPEAT, AMS, local(now), state=after(recent, NO_REPEAT))
    assert (decision.storm is StormStep.START) is storm


def test_storm_needs_a_policy_with_storms() -> None:
    plain = PolicySettings.model_validate(
        {"quiet": [{"days": "daily", "start": "21:30", "end": "07:00"}]}
    )
    recent = seen("23:00", "23:01", "23:02", "23:03", "23:04", "23:05", quiet=True)
    assert decide(plain, AMS, local("23:06"), state=after(recent, plain)).storm is None


@pytest.mark.parametrize(
    ("keywords", "text", "found"),
    [
        (["hospital"], "Im Hospital!", "hospital"),
        (["hospital"], "hospitality", None),
        (["Notfall"], "NOTFALL", "Notfall"),
        (["urgência"], "URGENCIA", "urgência"),
        (["naïve"], "so naive", "naïve"),
        ([], "emergency", None),
        (["emergency"], "", None),
    ],
)
def test_matching_keyword(keywords: list[str], text: str, found: str | None) -> None:
    assert matching_keyword(keywords, text) == found


def test_recent_is_only_the_sender_history_given() -> None:
    # Nothing recent: the first message from anyone is never folded or repeated.
    assert decide(POLICY, AMS, local("16:00") + timedelta(seconds=1)).action is Action.FORWARD


@pytest.mark.parametrize(
    ("story", "now", "recent", "running"),
    [
        (
            "four so far: not a storm yet",
            "23:10",
            seen("23:00", "23:03", "23:06", "23:09", action=Action.HOLD, quiet=True)[:3],
            False,
        ),
        (
            "after the fifth, the sixth runs in the storm",
            "23:14",
            seen("23:00", "23:03", "23:06", "23:09", "23:12", action=Action.HOLD, quiet=True),
            True,
        ),
        (
            "after 30 silent minutes the storm is over",
            "23:50",
            seen("23:00", "23:03", "23:06", "23:09", "23:12", action=Action.HOLD, quiet=True),
            False,
        ),
        (
            "a long storm stays one storm",
            "01:40",
            [
                Seen(local("23:00") + timedelta(minutes=m), Action.HOLD, "", True)
                for m in range(160)
            ],
            True,
        ),
    ],
)
def test_storm_running(story: str, now: str, recent: list[Seen], running: bool) -> None:
    at = local(now) if now >= "12:00" else local(now) + timedelta(days=1)
    decision = decide(NO_REPEAT, AMS, at, state=after(recent, NO_REPEAT))
    assert (decision.storm is StormStep.GROW) is running


@pytest.mark.parametrize(
    ("keywords", "text", "found"),
    [
        # Dutch
        (["ziekenhuis"], "Ik lig in het Ziekenhuis, bel me", "ziekenhuis"),
        (["bel me"], "Bel  me\nnu alsjeblieft", "bel me"),
        (["ziekenhuis"], "ziekenhuisbed", None),  # a whole word, not part of one
        (["ĳsbaan"], "op de IJSBAAN gevallen", "ĳsbaan"),  # the ĳ ligature is i + j
        # German: ß and SS are one word, umlauts fold
        (["Notfall"], "Das ist ein NOTFALL!", "Notfall"),
        (["Straße"], "auf der STRASSE", "Straße"),
        (["Krankenhaus"], "bin im krankenhaus.", "Krankenhaus"),
        (["hilfe"], "Hilfe, schnell", "hilfe"),
        (["übel"], "mir ist UBEL", "übel"),
        # French: accents and elision
        (["hôpital"], "je suis à l’HOPITAL", "hôpital"),
        (["urgence"], "C'est une urgence !", "urgence"),
        (["aide-moi"], "AIDE-MOI stp", "aide-moi"),
        # Spanish: ñ folds to n, inverted punctuation is not part of a word
        (["emergencia"], "¡EMERGENCIA!", "emergencia"),
        (["ayúdame"], "ayudame por favor", "ayúdame"),
        (["niño"], "el NINO está bien", "niño"),
        # Arabic: whole words, with or without the short-vowel marks
        (["طوارئ"], "هذه حالة طوارئ الآن", "طوارئ"),
        (["مستشفى"], "أنا في المُسْتَشْفَى", None),  # "in the hospital": al- makes another word
        (["مستشفى"], "انا في مُسْتَشْفَى الآن", "مستشفى"),
        (["ساعدني"], "ساعدنيييي", None),
    ],
)
def test_keywords_match_in_any_language(keywords: list[str], text: str, found: str | None) -> None:
    assert matching_keyword(keywords, text) == found


WORDS = st.sampled_from(["help", "help me", "me", "hé", "HE", "ß", "ss", "a-b", "b", "-", " ", "."])


@given(
    keywords=st.lists(st.lists(WORDS, max_size=3).map("".join), max_size=4),
    text=st.lists(WORDS, max_size=8).map("".join),
)
def test_one_scan_for_any_keyword_finds_what_each_keyword_alone_would(
    keywords: list[str], text: str
) -> None:
    """matching_keyword looks for all keywords at once before it looks for each in order: the
    first keyword of the list that matches on its own must be what it answers."""
    alone = [k for k in keywords if k.strip() and matching_keyword([k], text) == k]
    assert matching_keyword(keywords, text) == (alone[0] if alone else None)
