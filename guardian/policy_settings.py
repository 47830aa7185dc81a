"""A policy as settings.toml and the admin API write it (`[policies.NAME]`): quiet windows,
summary times, bursts, breakthroughs, storms, what is shown. The pure decisions
(guardian.policy) read it; the member's quick controls join it as overrides."""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import Annotated

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from guardian.setting_types import (
    DAYS_PATTERN,
    MAX_COUNT,
    MAX_KEYWORD,
    MAX_KEYWORDS,
    MAX_QUIET_WINDOWS,
    MAX_RETENTION_DAYS,
    MAX_SUMMARY_TIMES,
    Level,
    NoticeEvery,
    Strict,
    WallTime,
    Window,
)
from guardian.windows import Override, QuietPart, QuietWindow, parse_days

Days = Annotated[
    str,
    WithJsonSchema(
        {"type": "string", "pattern": DAYS_PATTERN, "maxLength": 80, "examples": ["mon-thu,sun"]}
    ),
]


class QuietWindowSettings(Strict):
    days: Days = "daily"
    start: WallTime
    end: WallTime

    @field_validator("days")
    @classmethod
    def _days(cls, days: str) -> str:
        parse_days(days)
        return days

    @model_validator(mode="after")
    def _not_empty(self) -> QuietWindowSettings:
        if self.start == self.end:
            raise ValueError("start and end are the same")
        return self

    def window(self) -> QuietWindow:
        return QuietWindow(parse_days(self.days), self.start, self.end)


class BurstSettings(Strict):
    limit: int = Field(ge=1, le=MAX_COUNT)
    per: Window
    notice_every: NoticeEvery


class RepeatedSettings(Strict):
    count: int = Field(ge=2, le=MAX_COUNT)
    within: Window


def _keyword(keyword: str) -> str:
    if not keyword.strip():
        raise ValueError("an empty keyword matches nothing")
    return keyword


Keyword = Annotated[
    str,
    Field(max_length=MAX_KEYWORD),
    AfterValidator(_keyword),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_KEYWORD}),
]


class BreakthroughSettings(Strict):
    keywords: list[Keyword] = Field([], max_length=MAX_KEYWORDS)
    repeated: RepeatedSettings | None = None


class StormSettings(Strict):
    count: int = Field(ge=2, le=MAX_COUNT)
    within: Window
    alert_guardians: bool = False


class PolicySettings(Strict):
    """A policy, in the shape of a `[policies.NAME]` table of settings.toml."""

    quiet: list[QuietWindowSettings] = Field([], max_length=MAX_QUIET_WINDOWS)
    summaries: list[WallTime] = Field([], max_length=MAX_SUMMARY_TIMES)
    burst: BurstSettings | None = None
    breakthrough: BreakthroughSettings = BreakthroughSettings()
    content: Level = "senders"
    guardian_view: Level = "counts"
    report: WallTime | None = None
    storm: StormSettings | None = None
    retention: int = Field(
        30, ge=1, le=MAX_RETENTION_DAYS, description="days that metadata is kept"
    )

    #: The member's quiet-hours overrides (guardian.overrides): a state kept in the database,
    #: never a setting, so never exported; set on each member's copy of the policy.
    _overrides: tuple[Override, ...] = PrivateAttr(default=())

    def windows(self) -> list[QuietPart]:
        return list(self.quiet_parts)

    @cached_property
    def quiet_parts(self) -> tuple[QuietPart, ...]:
        """The quiet windows and overrides, worked out once per policy (the model is frozen):
        every message's decision asks, and hashing the windows and reading the private
        attribute cost 4 % of ingest's time for arrays of 100."""
        return (*_windows(tuple(self.quiet)), *self._overrides)

    def with_overrides(self, overrides: tuple[Override, ...]) -> PolicySettings:
        """This policy as one member lives it: with their quiet-hours overrides."""
        if not overrides:
            return self
        copy = self.model_copy()
        copy._overrides = overrides
        copy.__dict__.pop("quiet_parts", None)  # the copy took this policy's, without them
        return copy


@lru_cache(maxsize=512)
def _windows(quiet: tuple[QuietWindowSettings, ...]) -> tuple[QuietWindow, ...]:
    return tuple(q.window() for q in quiet)
