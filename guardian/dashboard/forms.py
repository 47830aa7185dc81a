"""What the dashboard's forms share: errors in plain words next to their field, and the
confirmation that an action which cannot be undone needs.

The admin API answers with pydantic's messages by path (`id: String should match pattern
'^[a-z0-9]...'`), which a program reads; a parent reads "Use only small letters...". The API's
answers stay as they are; the pages translate them here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from multidict import MultiDictProxy
from pydantic import ValidationError

from guardian.settings import SLUG

#: The checkbox (or the dialog, which ticks it) that an irreversible form must carry.
CONFIRM_FIELD = "confirm"
CONFIRM_VALUE = "yes"
NOT_CONFIRMED = "Tick the box to confirm: this cannot be undone."

#: What an id may be, in words (guardian.settings.SLUG).
SLUG_WORDS = (
    "Use only small letters (a–z), digits, - and _, starting with a letter or a digit, "
    "at most 64 characters: for example grandma or sophie-2."
)


def confirmed(data: MultiDictProxy[Any] | Mapping[str, Any]) -> bool:
    """Whether the form says that its sender confirmed (the box was ticked)."""
    return str(data.get(CONFIRM_FIELD, "")) == CONFIRM_VALUE


def _field_of(location: tuple[Any, ...]) -> str:
    """A form field's name from a pydantic location: `("addresses", 2)` → `addresses`."""
    for part in location:
        if isinstance(part, str):
            return part
    return "form"


def plain_message(problem: Mapping[str, Any], words: Mapping[str, str] | None = None) -> str:
    """One pydantic problem in plain words; `words` names a field's usual shape, by field."""
    kind = str(problem.get("type", ""))
    context = problem.get("ctx") or {}
    field = _field_of(tuple(problem.get("loc", ())))
    given = problem.get("input")
    if kind == "missing" or (kind == "string_too_short" and not given):
        return "Fill this in."
    if kind == "string_pattern_mismatch":
        if context.get("pattern") == SLUG:
            return SLUG_WORDS
        return (words or {}).get(field, "This is not in the expected form.")
    if kind == "string_too_long":
        return f"Too long: at most {context.get('max_length')} characters."
    if kind == "too_long":
        return f"Too many: at most {context.get('max_length')}."
    if kind == "literal_error" or kind == "enum":
        return "Choose one of the options."
    if kind == "extra_forbidden":
        return "The page sent something unexpected: reload it and try again."
    if kind in ("int_parsing", "int_type", "float_parsing"):
        return "Write a whole number, like 3."
    message = str(problem.get("msg", "")).removeprefix("Value error, ")
    return _sentence((words or {}).get(f"{field}:value", "") or message)


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return "This is not valid."
    if not re.match(r"[\w-]+(://|=)", text):  # `console://`, `template=` stay as written
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def plain_errors(error: ValidationError, words: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every problem of `error` in plain words, by form field (the first per field)."""
    fields: dict[str, str] = {}
    for problem in error.errors(include_url=False):
        fields.setdefault(_field_of(tuple(problem["loc"])), plain_message(problem, words))
    return fields


def plain_detail(message: str) -> str:
    """An admin function's own message (`a contact 'x' exists already`) as a sentence."""
    return _sentence(re.sub(r"^[a-z_]+(\[\d+\])?: ", "", message))


def first_error(errors: Mapping[str, str], order: Iterable[str], prefix: str = "") -> str | None:
    """The id of the first field with an error, in the form's order: it gets `autofocus`, so the
    page opens scrolled to it."""
    for name in order:
        if name in errors:
            return f"{prefix}{name}"
    return None
