"""The closed vocabularies (guardian.words) and the HTTP API's own Literal types say the same.

The API models keep `Literal[...]` types, which make the OpenAPI document's enums; they must
name the words of the enums, no more and no fewer, so that the two cannot drift apart.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, get_args, get_type_hints

import pytest
from pydantic import BaseModel

from guardian import privacy, words
from guardian.api import deliveries, tonight
from guardian.scenario import OverrideSpec
from guardian.settings import MemberSettings
from guardian.words import (
    DeliveryKind,
    DeliveryStatus,
    EpisodeKind,
    NotificationStatus,
    OverrideKind,
    Role,
)


def _field(model: type[BaseModel], name: str) -> Any:
    return model.model_fields[name].annotation


@pytest.mark.parametrize(
    ("literal", "enum"),
    [
        (deliveries.Kind, DeliveryKind),
        (deliveries.Status, DeliveryStatus),
        (_field(tonight.OverrideOut, "kind"), OverrideKind),
        (_field(OverrideSpec, "kind"), OverrideKind),
        (_field(tonight.EpisodeOut, "kind"), EpisodeKind),
        (_field(MemberSettings, "role"), Role),
    ],
)
def test_an_api_literal_names_the_words_of_its_enum(literal: Any, enum: type[StrEnum]) -> None:
    assert list(get_args(literal)) == [member.value for member in enum]


def test_what_got_through_is_said_in_delivery_kinds() -> None:
    for literal in (_field(tonight.GotThrough, "kind"), get_type_hints(privacy.Through)["kind"]):
        assert set(get_args(literal)) == {DeliveryKind.BREAKTHROUGH, DeliveryKind.FORWARD}


def test_the_deliveries_filters_offer_every_kind_and_status_in_order() -> None:
    assert get_args(deliveries.Kind) == deliveries.KINDS
    assert get_args(deliveries.Status) == deliveries.STATUSES


def test_the_sets_of_words_cover_the_statuses_as_documented() -> None:
    assert set(words.WAITING) | set(words.PUSHED) | {NotificationStatus.NOTICED} | set(
        words.KEPT
    ) == set(NotificationStatus)
    assert set(words.UNSENT) == {DeliveryStatus.PENDING, DeliveryStatus.SENDING}


def test_a_stored_override_kind_reads_as_pause_or_else_quiet() -> None:
    assert OverrideKind.of("pause") is OverrideKind.PAUSE
    assert OverrideKind.of("quiet") is OverrideKind.QUIET
    assert OverrideKind.of("something else") is OverrideKind.QUIET
