"""Where settings come from besides settings.toml: the environment, `GUARDIAN_SERVER__PORT=9000`
for a table and, for the lists of tables, by the item's id
(`GUARDIAN_SOURCES__MIA_PHONE__SECRET=whsec_...`), the policies by name."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from pydantic_settings import EnvSettingsSource, TomlConfigSettingsSource

ENV_PREFIX = "GUARDIAN_"

_ITEM_TABLES = ("members", "contacts", "sources")
#: Tables of tables, overridden by name: `GUARDIAN_POLICIES__SCHOOL_NIGHT__CONTENT=preview`.
_NAMED_TABLES = ("policies",)


class EnvTables(EnvSettingsSource):
    """Environment overrides for tables; the lists of tables are handled by item id below, and
    the policies by name (an environment variable cannot spell `school-night`)."""

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        for table in (*_ITEM_TABLES, *_NAMED_TABLES):
            data.pop(table, None)
        return data


class TomlWithItemOverrides(TomlConfigSettingsSource):
    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        _apply_item_overrides(data, os.environ)
        return data


def _env_key(slug: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", slug.upper())


def _apply_item_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    targets: list[tuple[str, dict[str, Any]]] = []
    for table in _ITEM_TABLES:
        items = data.get(table)
        if isinstance(items, list):
            targets += [
                (f"{table}__{item['id']}", item)
                for item in items
                if isinstance(item, dict) and isinstance(item.get("id"), str)
            ]
    for table in _NAMED_TABLES:
        named = data.get(table)
        if isinstance(named, dict):
            targets += [(f"{table}__{k}", v) for k, v in named.items() if isinstance(v, dict)]
    for key, item in targets:
        item_prefix = f"{ENV_PREFIX}{_env_key(key)}__"
        for name, value in environ.items():
            if name.upper().startswith(item_prefix):
                path = name[len(item_prefix) :].lower().split("__")
                _set_path(item, path, _env_value(value))


def _set_path(item: dict[str, Any], path: list[str], value: Any) -> None:
    """`burst__limit` sets item["burst"]["limit"], keeping the rest of `burst`."""
    for part in path[:-1]:
        child = item.get(part)
        if not isinstance(child, dict):
            child = item[part] = {}
        item = child
    item[path[-1]] = value


def _env_value(value: str) -> Any:
    """JSON where the value is JSON (lists, numbers), the plain string otherwise."""
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
