"""Keeping the translations in step with the code (Babel's extraction and catalogs).

`make catalogs` (`python -m guardian.catalogs`) extracts every message of the code and the
dashboard templates into `guardian/locale/guardian.pot` and merges it into each language's
`guardian.po`: a new message arrives empty, a changed one as fuzzy with its old text beside it,
for a translator to finish. `python -m guardian.catalogs init CODE` starts a new language.
`problems()` is what the tests hold every catalog to: nothing missing, empty or fuzzy, nothing
left over, the plural rules of CLDR, and the same placeholders as the English.

The built-in plugins' settings (their labels and help on the dashboard's source form) have
catalogs of their own, `plugins/locale/`, as any plugin's do (`Plugin.gettext_domain` and
`locale_dir`): `make catalogs` keeps them in step the same way, and `python -m guardian.catalogs
plugin NAME` does it for an installed third-party plugin's.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import string
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po, write_po

import plugins
from guardian.i18n import DOMAIN, LANGUAGES, LOCALE_DIR, LOCALES, SOURCE_LANGUAGE, catalog_path
from guardian.plugin import PluginClass, PluginRegistry, PullPlugin, PushPlugin, setting_label

PACKAGE = Path(__file__).parent
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
PLUGIN_HEADER = """\
# A plugin's settings as the dashboard's source form shows them: each one's label, and the help
# under it. Names from a network's own pages (its menus, "Auth Token") are written as those pages
# show them. See docs/translating.md; refreshed by `python -m guardian.catalogs`.
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


def settings_messages(found: Iterable[PluginClass], domain: str, project: str) -> Catalog:
    """The label and the help of every setting of the plugins, in English, as the source form
    shows them (`setting_label`, `Field(description=...)`)."""
    catalog = Catalog(project=project, domain=domain, header_comment=PLUGIN_HEADER, fuzzy=False)
    for plugin in sorted(found, key=lambda p: (p.__module__, p.__name__)):
        where = [(f"{plugin.__module__.replace('.', '/')}.py", 0)]  # written without lines
        for name, setting in plugin.settings_model.model_fields.items():
            shown = f"{plugin.__name__}, {name}"
            label = setting_label(name, setting)
            catalog.add(label, None, where, auto_comments=[f"a setting's label ({shown})"])
            if setting.description:
                note = f"the help under the setting {label!r} ({shown})"
                catalog.add(setting.description, None, where, auto_comments=[note])
    return catalog


def builtin_plugins() -> list[PluginClass]:
    """Every plugin class in Guardian's own `plugins` package."""
    found: list[PluginClass] = []
    for module in pkgutil.iter_modules(plugins.__path__, f"{plugins.__name__}."):
        for value in vars(importlib.import_module(module.name)).values():
            if (
                isinstance(value, type)
                and issubclass(value, PushPlugin | PullPlugin)
                and value.__module__ == module.name
                and not inspect.isabstract(value)
            ):
                found.append(value)
    return found


@dataclass(frozen=True)
class Catalogs:
    """One gettext domain's catalogs: where they are, and how its messages are found."""

    domain: str
    locale_dir: Path
    extract: Callable[[], Catalog]
    project: str
    header: str = PLUGIN_HEADER

    @property
    def template(self) -> Path:
        return self.locale_dir / f"{self.domain}.pot"

    def path(self, code: str) -> Path:
        return self.locale_dir / code / "LC_MESSAGES" / f"{self.domain}.po"


GUARDIAN = Catalogs(DOMAIN, LOCALE_DIR, extract, "Guardian", HEADER)
BUILTIN_PLUGINS = Catalogs(
    plugins.GETTEXT_DOMAIN,
    plugins.LOCALE_DIR,
    lambda: settings_messages(builtin_plugins(), plugins.GETTEXT_DOMAIN, "Guardian"),
    "Guardian",
)


def plugin_catalogs(found: Iterable[PluginClass]) -> list[Catalogs]:
    """The catalogs of the plugins that have their own (plugins sharing one domain, one each)."""
    domains: dict[tuple[str, Path], list[PluginClass]] = {}
    for plugin in found:
        if plugin.gettext_domain is not None and plugin.locale_dir is not None:
            domains.setdefault((plugin.gettext_domain, plugin.locale_dir), []).append(plugin)
    return [
        Catalogs(domain, folder, partial(settings_messages, these, domain, domain), domain)
        for (domain, folder), these in domains.items()
    ]


def read(path: Path, domain: str = DOMAIN) -> Catalog:
    with path.open("rb") as source:
        return read_po(source, domain=domain)


def write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        # No line numbers: a catalog changes when its messages change, not when code moves.
        write_po(out, catalog, width=100, include_lineno=False, ignore_obsolete=True)


def update(catalogs: Sequence[Catalogs] = (GUARDIAN, BUILTIN_PLUGINS)) -> None:
    """Write each template from the code, and merge it into every language's catalog."""
    for domain in catalogs:
        template = domain.extract()
        write(template, domain.template)
        for code in TRANSLATED:
            path = domain.path(code)
            catalog = read(path, domain.domain) if path.is_file() else new_catalog(code, domain)
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


def new_catalog(code: str, catalogs: Catalogs = GUARDIAN) -> Catalog:
    """An empty catalog for `code`, with CLDR's plural rules for it in its header."""
    return Catalog(
        locale=Locale.parse(LOCALES.get(code, code)),
        domain=catalogs.domain,
        project=catalogs.project,
        header_comment=catalogs.header,
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


def _shown(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent) if path.is_relative_to(PACKAGE.parent) else path)


def catalog_problems(
    code: str, catalog: Catalog, template: Catalog, path: Path | None = None
) -> list[str]:
    """What is missing, empty, fuzzy, left over or wrongly formed in one language's catalog
    (Guardian's own, unless its `path` says which)."""
    where = f"{code} ({_shown(path or catalog_path(code))})"
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


def problems(catalogs: Sequence[Catalogs] = (GUARDIAN, BUILTIN_PLUGINS)) -> list[str]:
    """Everything that keeps the catalogs from being complete and in step with the code."""
    found: list[str] = []
    if BUILTIN_PLUGINS in catalogs:
        for plugin in builtin_plugins():
            own = (plugins.GETTEXT_DOMAIN, plugins.LOCALE_DIR)
            if (plugin.gettext_domain, plugin.locale_dir) != own:
                found.append(
                    f"{plugin.__module__}.{plugin.__name__}: its settings are not translated "
                    "(gettext_domain = GETTEXT_DOMAIN, locale_dir = LOCALE_DIR, from plugins)"
                )
    for domain in catalogs:
        found += _problems_of(domain)
    return found


def _problems_of(catalogs: Catalogs) -> list[str]:
    template = catalogs.extract()
    found: list[str] = []
    name = catalogs.template.name
    if not catalogs.template.is_file():
        found.append(f"{_shown(catalogs.template)}: missing (run `make catalogs`)")
    else:
        written = {_key(m) for m in _real(read(catalogs.template, catalogs.domain))}
        extracted = {_key(m) for m in _real(template)}
        for key in sorted(extracted - written, key=str):
            found.append(f"{name}: {key[0]!r} is in the code but not here (make catalogs)")
        for key in sorted(written - extracted, key=str):
            found.append(f"{name}: {key[0]!r} is no longer in the code (make catalogs)")
    for code in TRANSLATED:
        path = catalogs.path(code)
        if not path.is_file():
            found.append(f"{code}: no catalog at {path} (python -m guardian.catalogs init {code})")
            continue
        found += catalog_problems(code, read(path, catalogs.domain), template, path)
    return found


def main(argv: Sequence[str], registry: PluginRegistry | None = None) -> int:
    if argv[:1] == ["init"] and len(argv) == 2:
        code = argv[1]
        written = []
        for catalogs in (GUARDIAN, BUILTIN_PLUGINS):
            path = catalogs.path(code)
            if not path.exists():
                catalog = new_catalog(code, catalogs)
                catalog.update(catalogs.extract(), update_header_comment=False)
                write(catalog, path)
                written.append(_shown(path))
        if not written:
            print(f"{catalog_path(code)} exists already", file=sys.stderr)
            return 1
        where = " and ".join(written)
        print(f"wrote {where}: translate them, then add {code!r} to LANGUAGES in guardian/i18n.py")
        return 0
    if argv[:1] == ["plugin"] and len(argv) >= 2:
        return _update_plugins(argv[1:], registry or PluginRegistry.discover())
    if argv:
        print("usage: python -m guardian.catalogs [init CODE | plugin NAME...]", file=sys.stderr)
        return 2
    update()
    return _report(problems(), "guardian/locale and plugins/locale")


def _update_plugins(names: Sequence[str], registry: PluginRegistry) -> int:
    """Refresh the catalogs of the installed plugins `names` (each domain with every installed
    plugin that shares it): what a plugin's author runs, from an editable install."""
    installed = {name: i.plugin for name, i in registry.plugins.items() if i.plugin is not None}
    chosen = set()
    for name in names:
        plugin = installed.get(name)
        if plugin is None:
            print(f"{name}: no plugin of that name is installed and loads", file=sys.stderr)
            return 1
        if plugin.gettext_domain is None or plugin.locale_dir is None:
            said = f"{name}: {plugin.__name__} names no gettext_domain and locale_dir"
            print(said, file=sys.stderr)
            return 1
        chosen.add((plugin.gettext_domain, plugin.locale_dir))
    domains = plugin_catalogs(installed.values())
    found = [d for d in domains if (d.domain, d.locale_dir) in chosen]
    update(found)
    return _report(problems(found), ", ".join(str(d.locale_dir) for d in found))


def _report(remaining: list[str], where: str) -> int:
    for problem in remaining:
        print(problem)
    print(f"catalogs in {where} updated; {len(remaining)} to do")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
