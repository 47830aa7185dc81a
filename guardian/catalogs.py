"""Keeping the translations in step with the code (Babel's extraction and catalogs).

`make catalogs` (`python -m guardian.catalogs`) extracts every message of the code and the
dashboard templates into `guardian/locale/guardian.pot` and merges it into each language's
`guardian.po`: a new message arrives empty, a changed one as fuzzy with its old text beside it,
for a translator to finish. `python -m guardian.catalogs init CODE` starts a new language.
`problems()` is what the tests hold every catalog to: nothing missing, empty or fuzzy, nothing
left over, the plural rules of CLDR, and the same placeholders as the English.
"""

from __future__ import annotations

import re
import string
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po, write_po

from guardian.i18n import DOMAIN, LANGUAGES, LOCALE_DIR, LOCALES, SOURCE_LANGUAGE, catalog_path

PACKAGE = Path(__file__).parent
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
TRANSLATED = tuple(code for code in LANGUAGES if code != SOURCE_LANGUAGE)
#: Where messages are: the Python code, and the dashboard's templates (`{{ _("...") }}`).
METHOD_MAP = [
    ("migrations/**", "ignore"),
    ("**.py", "python"),
    ("dashboard/templates/**.html", "jinja2.ext:babel_extract"),
]
COMMENT_TAGS = ("TRANSLATORS:", "Translators:")
HEADER = """\
# Guardian's messages: one msgstr per msgid (one per plural form), in the reader's language.
# Keep every {placeholder} as it is; see docs/translating.md. Refreshed by `make catalogs`.
#"""
BRACE = "python-brace-format"
_PERCENT = re.compile(r"%\((\w+)\)[#0 +-]*[0-9.]*[sdifr]")


def extract() -> Catalog:
    """Every message in the code and the templates, with the comments meant for translators."""
    catalog = Catalog(project="Guardian", domain=DOMAIN, header_comment=HEADER, fuzzy=False)
    found = extract_from_dir(
        str(PACKAGE),
        METHOD_MAP,
        keywords=DEFAULT_KEYWORDS,
        comment_tags=COMMENT_TAGS,
        strip_comment_tags=True,
    )
    for filename, lineno, message, comments, context in found:
        ids = message if isinstance(message, tuple) else (message,)
        flags = {BRACE} if any("{" in text for text in ids) else set()
        catalog.add(
            message,
            None,
            [(f"guardian/{filename}", lineno)],
            auto_comments=comments,
            flags=flags,
            context=context,
        )
    return catalog


def read(path: Path) -> Catalog:
    with path.open("rb") as source:
        return read_po(source, domain=DOMAIN)


def write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        # No line numbers: a catalog changes when its messages change, not when code moves.
        write_po(out, catalog, width=100, include_lineno=False, ignore_obsolete=True)


def update() -> None:
    """Write the template from the code, and merge it into every language's catalog."""
    template = extract()
    write(template, TEMPLATE)
    for code in TRANSLATED:
        path = catalog_path(code)
        catalog = read(path) if path.is_file() else new_catalog(code)
        catalog.update(template, update_header_comment=False)
        _no_borrowed_guesses(catalog, template)
        write(catalog, path)


def _no_borrowed_guesses(catalog: Catalog, template: Catalog) -> None:
    """Babel guesses a new message's translation from the most similar old one; that is a help
    only when the old one changed into it (it left the code). A guess taken from a message the
    code still has ("no person {key}" from "{n} person") is wrong: the new message starts empty."""
    still = {m.id if isinstance(m.id, str) else tuple(m.id) for m in _real(template)}
    for message in _real(catalog):
        if not (message.fuzzy and message.previous_id):
            continue
        old = list(message.previous_id)
        old_id: str | tuple[str, ...] = old[0] if len(old) == 1 else tuple(old)
        if old_id not in still:
            continue  # a changed message: its old translation stays beside it, fuzzy
        message.string = ("",) * catalog.num_plurals if message.pluralizable else ""
        message.flags.discard("fuzzy")
        message.previous_id = []


def new_catalog(code: str) -> Catalog:
    """An empty catalog for `code`, with CLDR's plural rules for it in its header."""
    return Catalog(
        locale=Locale.parse(LOCALES.get(code, code)),
        domain=DOMAIN,
        project="Guardian",
        header_comment=HEADER,
        fuzzy=False,
    )


def _key(message: Message) -> tuple[object, str | None]:
    return message.id, message.context


def _real(catalog: Catalog) -> list[Message]:
    return [m for m in catalog if m.id]  # the header is the message with the empty id


def placeholders(text: str) -> set[str]:
    """`{name}` fields (and the dashboard's `%(name)s`), or ValueError if the braces are bad."""
    names = {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    return names | set(_PERCENT.findall(text))


def _texts(value: object) -> Sequence[str]:
    if isinstance(value, str):
        return (value,)
    return tuple(v for v in value) if isinstance(value, Iterable) else ()


def catalog_problems(code: str, catalog: Catalog, template: Catalog) -> list[str]:
    """What is missing, empty, fuzzy, left over or wrongly formed in one language's catalog."""
    where = f"{code} ({catalog_path(code).relative_to(PACKAGE.parent)})"
    found: list[str] = []
    plural = get_plural(Locale.parse(LOCALES.get(code, code)))
    if (catalog.num_plurals, catalog.plural_expr) != (plural.num_plurals, plural.plural_expr):
        found.append(f"{where}: Plural-Forms is not CLDR's: {plural.plural_forms}")
    for message in _real(template):
        shown = message.id if isinstance(message.id, str) else message.id[0]
        name = f"{where}: {shown!r}" + (f" ({message.context})" if message.context else "")
        translated = catalog.get(message.id, context=message.context)
        if translated is None:
            found.append(f"{name}: missing")
            continue
        if translated.fuzzy:
            found.append(f"{name}: fuzzy (check the translation, then remove the fuzzy flag)")
        forms = _texts(translated.string)
        expected_forms = plural.num_plurals if message.pluralizable else 1
        if len(forms) != expected_forms or not all(form.strip() for form in forms):
            found.append(f"{name}: not translated")
            continue
        try:
            english = set().union(*(placeholders(text) for text in _texts(message.id)))
            for form in forms:
                if placeholders(form) != english:
                    found.append(
                        f"{name}: placeholders {sorted(placeholders(form))} in {form!r}, "
                        f"but the English has {sorted(english)}"
                    )
        except ValueError as error:
            found.append(f"{name}: {error}")
    wanted = {_key(m) for m in _real(template)}
    for message in _real(catalog):
        if _key(message) not in wanted:
            found.append(f"{where}: {message.id!r} is no longer in the code (run `make catalogs`)")
    return found


def problems() -> list[str]:
    """Everything that keeps the catalogs from being complete and in step with the code."""
    template = extract()
    found: list[str] = []
    if not TEMPLATE.is_file():
        found.append(f"{TEMPLATE}: missing (run `make catalogs`)")
    else:
        written = {_key(m) for m in _real(read(TEMPLATE))}
        extracted = {_key(m) for m in _real(template)}
        for key in sorted(extracted - written, key=str):
            found.append(f"guardian.pot: {key[0]!r} is in the code but not here (make catalogs)")
        for key in sorted(written - extracted, key=str):
            found.append(f"guardian.pot: {key[0]!r} is no longer in the code (make catalogs)")
    for code in TRANSLATED:
        path = catalog_path(code)
        if not path.is_file():
            found.append(f"{code}: no catalog at {path} (python -m guardian.catalogs init {code})")
            continue
        found += catalog_problems(code, read(path), template)
    return found


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["init"] and len(argv) == 2:
        code = argv[1]
        path = catalog_path(code)
        if path.exists():
            print(f"{path} exists already", file=sys.stderr)
            return 1
        template = extract()
        catalog = new_catalog(code)
        catalog.update(template, update_header_comment=False)
        write(catalog, path)
        print(f"wrote {path}: translate it, then add {code!r} to LANGUAGES in guardian/i18n.py")
        return 0
    if argv:
        print("usage: python -m guardian.catalogs [init CODE]", file=sys.stderr)
        return 2
    update()
    remaining = problems()
    for problem in remaining:
        print(problem)
    print(f"{TEMPLATE} and {len(TRANSLATED)} catalogs updated; {len(remaining)} to do")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
