"""Dashboard pages: adding, editing and removing a source, with a form made from its plugin.

A plugin declares its settings as a pydantic model; the form shows one field per setting, typed
by what the model says (a password box for a secret, a list of choices, one line per item of a
list), labelled by the setting's title (else its name), with its description as help: in the
page's language where the plugin's own catalog has them, else in English. The pages call the
same functions as the admin API (`guardian.api.sources`), so the same checks apply and a pull
source starts, restarts or stops at once. A secret is never put back into a page: left empty on
an edit, it is kept.
"""

from __future__ import annotations

import gettext
import types
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

from aiohttp import web
from pydantic import BaseModel, SecretStr, ValidationError

from guardian.admin import AdminError, invalid, not_found
from guardian.api.sources import (
    SourceEdit,
    SourceIn,
    create_source,
    remove_source,
    update_source,
)
from guardian.dashboard import admin_of, error_page, page_language, render
from guardian.dashboard.source_steps import NETWORKS
from guardian.household import SourceView
from guardian.i18n import N_, SOURCE_LANGUAGE, Language, plugin_catalog
from guardian.plugin import PluginClass, setting_label

routes = web.RouteTableDef()

#: What a parent reads for each kind of plugin.
KINDS = {
    "push": N_("The network sends each message to Guardian (it needs Guardian's web address)."),
    "pull": N_("Guardian reads the account itself (no web address needed)."),
}


@dataclass(frozen=True)
class FormField:
    """One setting of a plugin, as a form field."""

    name: str
    label: str
    #: text, password, number, checkbox, select or lines (a list, one item per line).
    kind: str
    required: bool
    help: str = ""
    choices: tuple[str, ...] = ()
    #: For `lines` of a mapping: `key = value` per line.
    pairs: bool = False


@dataclass
class Form:
    """What the form shows: the chosen plugin's fields, what was typed, what is wrong."""

    plugin: str
    fields: list[FormField]
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def form_fields(
    model: type[BaseModel], words: gettext.NullTranslations | None = None
) -> list[FormField]:
    """The settings of a plugin's model as form fields, in declaration order; labels and help
    from `words` (the plugin's catalog in the page's language), English where it has none."""
    said = (words or gettext.NullTranslations()).gettext
    found = []
    for name, info in model.model_fields.items():
        annotation = _without_none(info.annotation)
        kind, pairs = "text", False
        choices: tuple[str, ...] = ()
        if _is(annotation, SecretStr):
            kind = "password"
        elif annotation is bool:
            kind = "checkbox"
        elif annotation is int:
            kind = "number"
        elif get_origin(annotation) is Literal:
            kind, choices = "select", tuple(str(a) for a in get_args(annotation))
        elif get_origin(annotation) in (list, tuple, set, frozenset):
            kind = "lines"
        elif get_origin(annotation) is dict:
            kind, pairs = "lines", True
        found.append(
            FormField(
                name=name,
                label=said(setting_label(name, info)),
                kind=kind,
                required=info.is_required(),
                help=said(info.description) if info.description else "",
                choices=choices,
                pairs=pairs,
            )
        )
    return found


def _without_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [a for a in get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _is(annotation: Any, kind: type) -> bool:
    return annotation is kind or (isinstance(annotation, type) and issubclass(annotation, kind))


def settings_from(fields: list[FormField], posted: Any) -> dict[str, Any]:
    """The plugin's settings from a posted form: empty fields are left out (the default, or on
    an edit the stored secret), lists one item per line, numbers as numbers."""
    settings: dict[str, Any] = {}
    for spec in fields:
        raw = str(posted.get(f"s.{spec.name}", "")).strip()
        if spec.kind == "checkbox":
            settings[spec.name] = f"s.{spec.name}" in posted
        elif not raw:
            continue
        elif spec.kind == "number":
            settings[spec.name] = int(raw) if raw.lstrip("-").isdigit() else raw
        elif spec.kind == "lines" and spec.pairs:
            pairs = [line.partition("=") for line in raw.splitlines() if line.strip()]
            settings[spec.name] = {k.strip(): v.strip() for k, _, v in pairs}
        elif spec.kind == "lines":
            settings[spec.name] = [line.strip() for line in raw.splitlines() if line.strip()]
        else:
            settings[spec.name] = raw
    return settings


def values_of(fields: list[FormField], settings: dict[str, Any]) -> dict[str, str]:
    """Stored settings as the form shows them; never a secret."""
    shown = {}
    for spec in fields:
        value = settings.get(spec.name)
        if value is None or spec.kind == "password":
            continue
        if spec.kind == "lines" and isinstance(value, dict):
            shown[spec.name] = "\n".join(f"{k} = {v}" for k, v in value.items())
        elif spec.kind == "lines" and isinstance(value, list):
            shown[spec.name] = "\n".join(str(v) for v in value)
        elif spec.kind == "checkbox":
            shown[spec.name] = "on" if value else ""
        else:
            shown[spec.name] = str(value)
    return shown


def _plugins(request: web.Request) -> dict[str, PluginClass]:
    registry = admin_of(request).service.registry
    return {**registry.loaded(), **registry.pulling()}


def _title(name: str, plugin: PluginClass, t: Language) -> str:
    """What a plugin connects to, in the reader's words: the network's name for a built-in one
    ("E-mail (a mailbox)"), else the first line of the plugin's docstring, else its name."""
    if name in NETWORKS:
        return t.gettext(NETWORKS[name].name)
    doc = (plugin.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else name


def _page(
    request: web.Request,
    *,
    source: str | None,
    form: Form | None,
    basics: dict[str, str],
    status: int = 200,
) -> web.Response:
    plugins = _plugins(request)
    context = {
        "source": source,
        "form": form,
        "basics": basics,
        "plugins": [
            (name, plugin.kind, _title(name, plugin, page_language(request)))
            for name, plugin in sorted(plugins.items())
        ],
        "kinds": KINDS,
        "members": list(admin_of(request).view.members.values()),
    }
    return render(request, "source_form.html", context, status=status)


def _form(request: web.Request, plugin_name: str) -> Form | None:
    plugin = _plugins(request).get(plugin_name)
    if plugin is None:
        return None
    return Form(plugin_name, form_fields(plugin.settings_model, _words(plugin, request)))


def _words(plugin: PluginClass, request: web.Request) -> gettext.NullTranslations:
    """The plugin's own catalog in the page's language; English where it ships none."""
    code = page_language(request).code
    if code == SOURCE_LANGUAGE or plugin.gettext_domain is None or plugin.locale_dir is None:
        return gettext.NullTranslations()
    return plugin_catalog(code, plugin.gettext_domain, plugin.locale_dir)


#: Pydantic's words, as a parent reads them next to the field.
PLAIN = {"Field required": N_("This is needed: fill it in.")}


def _field_errors(t: Language, error: AdminError) -> dict[str, str]:
    """The API's field paths (`settings.password`) as the form's names (`s.password`)."""
    return {
        (
            f"s.{path.removeprefix('settings.')}" if path.startswith("settings.") else path
        ): t.gettext(PLAIN[message]) if message in PLAIN else message
        for path, message in (error.fields or {"form": _said(t, error)}).items()
    }


def _said(t: Language, error: AdminError) -> str:
    """An error's sentence in the page's language (the API's English detail otherwise)."""
    return t.gettext(error.said[0], **error.said[1]) if error.said else t.gettext(error.detail)


@routes.get("/sources/new")
async def new_source_page(request: web.Request) -> web.Response:
    plugin = request.query.get("plugin", "")
    form = _form(request, plugin) if plugin else None
    member = next(iter(admin_of(request).view.members), "")
    return _page(request, source=None, form=form, basics={"member": member, "enabled": "on"})


@routes.post("/sources/new")
async def create_source_page(request: web.Request) -> web.Response:
    posted = await request.post()
    basics = {key: str(posted.get(key, "")).strip() for key in ("id", "plugin", "member")}
    basics["enabled"] = "on" if "enabled" in posted else ""
    form = _form(request, basics["plugin"])
    if form is None:
        return _page(request, source=None, form=None, basics=basics, status=422)
    admin = admin_of(request)
    try:
        settings = settings_from(form.fields, posted)
        try:
            body = SourceIn.model_validate(
                {**basics, "settings": settings, "enabled": "enabled" in posted}
            )
        except ValidationError as error:
            raise invalid(error) from None
        await create_source(admin, body)
    except AdminError as error:
        form.values = {k: str(v) for k, v in posted.items() if not k.startswith("s.")}
        form.values |= {
            f.name: str(posted.get(f"s.{f.name}", "")) for f in form.fields if f.kind != "password"
        }
        form.errors = _field_errors(page_language(request), error)
        return _page(request, source=None, form=form, basics=basics, status=error.status)
    raise web.HTTPSeeOther(f"/sources#source-{basics['id']}")


@routes.get("/sources/{source_id}/edit")
async def edit_source_page(request: web.Request) -> web.Response:
    admin = admin_of(request)
    source = admin.view.sources.get(request.match_info["source_id"])
    if source is None:
        return error_page(request, not_found("source", request.match_info["source_id"]))
    form = _form(request, source.plugin)
    if form is not None:
        form.values = values_of(form.fields, source.settings)
    basics = _basics(source)
    return _page(request, source=source.id, form=form, basics=basics)


def _basics(source: SourceView) -> dict[str, str]:
    return {
        "id": source.id,
        "plugin": source.plugin,
        "member": source.member,
        "enabled": "on" if source.enabled else "",
    }


@routes.post("/sources/{source_id}/edit")
async def update_source_page(request: web.Request) -> web.Response:
    admin = admin_of(request)
    source = admin.view.sources.get(request.match_info["source_id"])
    if source is None:
        return error_page(request, not_found("source", request.match_info["source_id"]))
    posted = await request.post()
    basics = {
        **_basics(source),
        "member": str(posted.get("member", "")),
        "enabled": "on" if "enabled" in posted else "",
    }
    form = _form(request, source.plugin)
    if form is None:
        # Translators: {name} is what a source connects to (imap, slack), as settings.toml says.
        missing = N_("Guardian cannot connect to {name} here: that part is not installed.")
        error = AdminError(
            409,
            "plugin_missing",
            f"the {source.plugin} plugin is not installed",
            said=(missing, {"name": source.plugin}),
        )
        return error_page(request, error)
    try:
        settings = settings_from(form.fields, posted)
        try:
            edit = SourceEdit.model_validate(
                {"member": basics["member"], "settings": settings, "enabled": "enabled" in posted}
            )
        except ValidationError as error:
            raise invalid(error) from None
        await update_source(admin, source.id, edit)
    except AdminError as error:
        form.values = {
            f.name: str(posted.get(f"s.{f.name}", "")) for f in form.fields if f.kind != "password"
        }
        form.errors = _field_errors(page_language(request), error)
        return _page(request, source=source.id, form=form, basics=basics, status=error.status)
    raise web.HTTPSeeOther(f"/sources#source-{source.id}")


@routes.post("/sources/{source_id}/remove")
async def remove_source_page(request: web.Request) -> web.Response:
    admin = admin_of(request)
    source_id = request.match_info["source_id"]
    posted = await request.post()
    if posted.get("confirm") != "yes":
        text = N_("Tick the box to confirm: messages from it stop reaching Guardian.")
        error = AdminError(422, "unconfirmed", text, said=(text, {}))
        return await _edit_with_error(request, source_id, error)
    try:
        await remove_source(admin, source_id)
    except AdminError as error:
        if error.status == 404:
            return error_page(request, error)
        return await _edit_with_error(request, source_id, error)
    raise web.HTTPSeeOther("/sources")


async def _edit_with_error(request: web.Request, source_id: str, error: AdminError) -> web.Response:
    admin = admin_of(request)
    source = admin.view.sources.get(source_id)
    if source is None:
        return error_page(request, not_found("source", request.match_info["source_id"]))
    form = _form(request, source.plugin)
    if form is not None:
        form.values = values_of(form.fields, source.settings)
        form.errors = {"remove": _said(page_language(request), error)}
    basics = _basics(source)
    return _page(request, source=source.id, form=form, basics=basics, status=error.status)
