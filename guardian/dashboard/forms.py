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

from guardian import i18n
from guardian.i18n import N_, Language
from guardian.setting_types import SLUG

#: The checkbox (or the dialog, which ticks it) that an irreversible form must carry.
CONFIRM_FIELD = "confirm"
CONFIRM_VALUE = "yes"
# Translators: beside the "I understand" box of a form that deletes or merges.
NOT_CONFIRMED = N_("Tick the box to confirm: this cannot be undone.")

#: What an id may be, in words (guardian.setting_types.SLUG).
SLUG_WORDS = N_(
    "Use only small letters (a–z), digits, - and _, starting with a letter or a digit, "
    "at most 64 characters: for example grandma or sophie-2."
)
ENGLISH = i18n.language(i18n.SOURCE_LANGUAGE)


def confirmed(data: MultiDictProxy[Any] | Mapping[str, Any]) -> bool:
    """Whether the form says that its sender confirmed (the box was ticked)."""
    return str(data.get(CONFIRM_FIELD, "")) == CONFIRM_VALUE


def _field_of(location: tuple[Any, ...]) -> str:
    """A form field's name from a pydantic location: `("addresses", 2)` → `addresses`."""
    for part in location:
        if isinstance(part, str):
            return part
    return "form"


def plain_message(
    problem: Mapping[str, Any], words: Mapping[str, str] | None = None, t: Language = ENGLISH
) -> str:
    """One pydantic problem in plain words, in `t`; `words` names a field's usual shape, by
    field (messages marked with N_, translated here)."""
    kind = str(problem.get("type", ""))
    context = problem.get("ctx") or {}
    field = _field_of(tuple(problem.get("loc", ())))
    given = problem.get("input")
    if kind == "missing" or (kind == "string_too_short" and not given):
        # Translators: an error beside an empty form field.
        return t.gettext("Fill this in.")
    if kind == "string_pattern_mismatch":
        if context.get("pattern") == SLUG:
            return t.gettext(SLUG_WORDS)
        shape = (words or {}).get(field)
        return t.gettext(shape) if shape else t.gettext("This is not in the expected form.")
    if kind == "string_too_long":
        limit = int(context.get("max_length") or 0)
        # Translators: an error beside a form field; {n} is the most characters it takes.
        return t.ngettext(
            "Too long: at most {n} character.", "Too long: at most {n} characters.", limit
        )
    if kind == "too_long":
        # Translators: an error beside a list in a form; {n} is the most items it takes.
        return t.gettext("Too many: at most {n}.", n=context.get("max_length"))
    if kind == "literal_error" or kind == "enum":
        return t.gettext("Choose one of the options.")
    if kind == "extra_forbidden":
        return t.gettext("The page sent something unexpected: reload it and try again.")
    if kind in ("int_parsing", "int_type", "float_parsing"):
        return t.gettext("Write a whole number, like 3.")
    message = str(problem.get("msg", "")).removeprefix("Value error, ")
    shape = (words or {}).get(f"{field}:value", "")
    return _sentence(t.gettext(shape) if shape else message, t)


def _sentence(text: str, t: Language = ENGLISH) -> str:
    text = text.strip()
    if not text:
        return t.gettext("This is not valid.")
    if not re.match(r"[\w-]+(://|=)", text):  # `console://`, `template=` stay as written
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def plain_errors(
    error: ValidationError, words: Mapping[str, str] | None = None, t: Language = ENGLISH
) -> dict[str, str]:
    """Every problem of `error` in plain words, by form field (the first per field)."""
    fields: dict[str, str] = {}
    for problem in error.errors(include_url=False):
        fields.setdefault(_field_of(tuple(problem["loc"])), plain_message(problem, words, t))
    return fields


def plain_detail(message: str, t: Language = ENGLISH) -> str:
    """An admin function's own message (`a contact 'x' exists already`) as a sentence; in
    `t`'s words when the message is one of the catalogs' (a check's N_ message)."""
    return _sentence(t.gettext(re.sub(r"^[a-z_]+(\[\d+\])?: ", "", message)), t)


def first_error(errors: Mapping[str, str], order: Iterable[str], prefix: str = "") -> str | None:
    """The id of the first field with an error, in the form's order: it gets `autofocus`, so the
    page opens scrolled to it."""
    for name in order:
        if name in errors:
            return f"{prefix}{name}"
    return None
