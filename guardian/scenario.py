"""A scenario: the lines `guardian simulate` and `POST /api/v1/simulate` replay — messages as
they arrive, and changes to a member's quiet hours — read and checked against the household.
guardian.simulate runs them; the API only reads them, and never imports the runner (which
builds a whole app)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from guardian.models import QuietOverride
from guardian.overrides import Control as QuickControl
from guardian.settings import Settings, format_validation_errors
from guardian.webhook_format import WebhookMessage
from guardian.words import OverrideKind


class ScenarioError(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at: AwareDatetime
    source: str
    message: WebhookMessage


class Control(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    member: str
    do: QuickControl
    until: str | None = Field(None, max_length=40)


class ControlEvent(BaseModel):
    """A quick control as a parent uses it on the dashboard, at `at`:
    `{"at": ..., "control": {"member": "mia", "do": "one_more_hour"}}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: AwareDatetime
    control: Control


class OverrideSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    member: str
    kind: Literal["quiet", "pause"]
    start: AwareDatetime
    end: AwareDatetime


class OverrideEvent(BaseModel):
    """A quiet-hours override as stored (what `POST /api/v1/simulate` carries over from the
    household: the quick controls in force now): `{"at": ..., "override": {...}}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: AwareDatetime
    override: OverrideSpec


#: A scenario line: a message, or a change to a member's quiet hours.
AnyEvent = Event | ControlEvent | OverrideEvent


def _event(line: dict[str, Any]) -> AnyEvent:
    if isinstance(line, dict) and "control" in line:
        return ControlEvent.model_validate(line)
    if isinstance(line, dict) and "override" in line:
        return OverrideEvent.model_validate(line)
    return Event.model_validate(line)


def read_scenario(path: Path, settings: Settings) -> list[AnyEvent]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError([f"cannot read: {error}"]) from None
    events: list[AnyEvent] = []
    problems: list[str] = []
    sources = {s.id for s in settings.sources}
    members = {m.id for m in settings.members}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            event = _event(json.loads(line))
        except json.JSONDecodeError as error:
            problems.append(f"line {number}: not JSON: {error}")
            continue
        except ValidationError as error:
            problems.extend(f"line {number}: {p}" for p in format_validation_errors(error))
            continue
        if isinstance(event, Event) and event.source not in sources:
            problems.append(f"line {number}: source: unknown source {event.source!r}")
            continue
        member = _member_of(event)
        if member is not None and member not in members:
            problems.append(f"line {number}: member: unknown member {member!r}")
            continue
        events.append(event)
    if problems:
        raise ScenarioError(problems)
    if not events:
        raise ScenarioError(["the scenario has no events"])
    return sorted(events, key=lambda e: e.at)


def _member_of(event: AnyEvent) -> str | None:
    if isinstance(event, ControlEvent):
        return event.control.member
    if isinstance(event, OverrideEvent):
        return event.override.member
    return None


async def carried_overrides(admin: Any, at: datetime) -> list[OverrideEvent]:
    """The household's quiet-hours overrides not over by `at`, as scenario lines at `at`: a
    simulation of the household "as stored now" includes tonight's quick controls."""
    view = admin.view
    by_pk = {m.pk: m.id for m in view.members.values()}
    rows = await QuietOverride.filter(member__household_id=view.id, end_at__gt=at).order_by("id")
    return [
        OverrideEvent(
            at=at,
            override=OverrideSpec(
                member=by_pk[r.member_id],
                kind=OverrideKind.of(r.kind),
                start=r.start_at,
                end=r.end_at,
            ),
        )
        for r in rows
        if r.member_id in by_pk
    ]
