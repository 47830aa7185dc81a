"""The value types of settings.toml, with their one set of bounds: for settings.toml, `guardian
import` and the admin API alike (its JSON schemas say what is written: strings of a pattern)."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from guardian.durations import format_duration, parse_duration
from guardian.i18n import known_language

SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"


def wall_time(value: Any) -> time:
    """`HH:MM` (or a time) as a time of day; a ValueError says what is wrong."""
    if isinstance(value, time):
        return value
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(value).strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError("not a time (use HH:MM, 00:00-23:59)")
    return time(int(match[1]), int(match[2]))


def duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    return parse_duration(str(value))


def delay(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    return parse_duration(str(value), allow_zero=True)


# --- bounds -----------------------------------------------------------------------------------
# Every value Guardian accepts must work: nothing that `guardian check` lets through may overflow
# the scheduler's arithmetic or outgrow a database column later.

SECOND, MINUTE, HOUR, DAY = (timedelta(seconds=n) for n in (1, 60, 3600, 86400))
#: Counts in a policy (burst limit, repeated contact, storm): the sender state keeps this many.
MAX_COUNT = 1000
#: The longest window a policy counts messages in (burst `per`, repeated and storm `within`).
MAX_WINDOW = DAY
MAX_KEYWORDS, MAX_KEYWORD = 100, 100
MAX_QUIET_WINDOWS, MAX_SUMMARY_TIMES = 50, 48
MAX_RETENTION_DAYS = 3650
MAX_NAME, MAX_ADDRESS, MAX_ADDRESSES = 200, 300, 100
MAX_CHANNELS, MAX_CHANNEL_URL = 20, 2000


def between(low: timedelta, high: timedelta) -> Any:
    """A check that a duration lies in [low, high], saying both ends in the settings' own words."""

    def check(delta: timedelta) -> timedelta:
        if not low <= delta <= high:
            raise ValueError(
                f"must be between {format_duration(low)} and {format_duration(high)}, "
                f"not {format_duration(delta)}"
            )
        return delta

    return AfterValidator(check)


# The JSON schemas (of the admin API) say what is written, strings of a pattern, rather than
# what the Python types are.
_DAY = "(mon|tue|wed|thu|fri|sat|sun)"
DAYS_PATTERN = rf"^(daily|{_DAY}(-{_DAY})?(,{_DAY}(-{_DAY})?)*)$"
_TIME_PATTERN = r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$"
# At least one part with a number above zero; four digits a part keeps it far from overflow.
_PART = "[0-9]{1,4}[dhms]"
_DURATION_PATTERN = rf"^({_PART})*0{{0,3}}[1-9][0-9]{{0,3}}[dhms]({_PART})*$"

WallTime = Annotated[
    time,
    BeforeValidator(wall_time),
    PlainSerializer(lambda t: t.strftime("%H:%M")),
    WithJsonSchema({"type": "string", "pattern": _TIME_PATTERN, "examples": ["21:30"]}),
]
Duration = Annotated[
    timedelta,
    BeforeValidator(duration),
    PlainSerializer(format_duration),
    WithJsonSchema(
        {"type": "string", "pattern": _DURATION_PATTERN, "maxLength": 16, "examples": ["10m"]}
    ),
]
#: A window that a policy counts messages in: a second to a day.
Window = Annotated[Duration, between(SECOND, MAX_WINDOW)]
#: How often a burst notice may go out.
NoticeEvery = Annotated[Duration, between(MINUTE, DAY)]
#: A wait or timeout of the server: a second to ten minutes.
ShortWait = Annotated[Duration, between(SECOND, 10 * MINUTE)]
#: A duration that may be zero ("0s": no wait), up to an hour.
Delay = Annotated[
    timedelta,
    BeforeValidator(delay),
    between(timedelta(0), HOUR),
    PlainSerializer(format_duration),
]
Slug = Annotated[str, Field(pattern=SLUG)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
#: A language Guardian writes in (guardian.i18n.LANGUAGES): `en`, `nl`, `de`, `fr` or `es`.
LanguageCode = Annotated[str, AfterValidator(known_language)]
Level = Literal["counts", "senders", "preview"]


class Strict(BaseModel):
    """A table of settings: unknown keys refused, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
