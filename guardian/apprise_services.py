"""Apprise's services, imported when a channel needs one, not all of them at the first URL.

At its first use Apprise imports every one of its ~130 service modules, and with them
cryptography, oauthlib and the rest of their libraries: 478 modules and 22 MiB of a Guardian
that idles at 103 MiB with one `json://` channel (81 MiB without them). Most households use two
or three services.

So Apprise's registry (its `NotificationManager`, a singleton) is told it has loaded everything
before anything asks, with nothing in it (`start_lazily`, at the import of `guardian.channels`);
`load_for(url)` then imports the one module that serves the URL's scheme, registered the way
Apprise's own loader registers it. Which module serves which scheme is read from the modules'
source text (their `protocol` and `secure_protocol`, without importing them). A scheme no
module claims there (a service's native form, `https://discord.com/api/webhooks/...`, which
Apprise recognises by asking every service) or a module that does not register the scheme it
was found for loads every service, as Apprise would have: behaviour never depends on the index.

This reaches into the registry's private state (`_module_map`, `_schema_map`, `_loaded`), as
Apprise 2.3 has it; `tests/test_apprise_services.py` holds the index and the registration to a
registry that loaded everything, so an Apprise release that changes them fails there first, and
anything unexpected here at run time falls back to loading everything.
"""

from __future__ import annotations

import ast
import importlib
import logging
import os
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from apprise.manager_plugins import NotificationManager
from apprise.utils.parse import GET_SCHEMA_RE

log = logging.getLogger(__name__)

_MANAGER: Any = NotificationManager()  # type: ignore[no-untyped-call]  # the registry singleton
#: Loading is serialised here, outside Apprise's own lock (one lock for all its registries):
#: importing a service must not happen while holding it.
_LOADING = threading.Lock()
_MODULE = re.compile(r"^(?P<name>(?!base|_)[a-z0-9_]+)(\.py)?$", re.IGNORECASE)
_PROTOCOL = re.compile(
    r"^[ \t]+(?:secure_)?protocol[ \t]*=[ \t]*(\([^)]*\)|\[[^\]]*\]|\"[^\"]*\"|'[^']*')",
    re.MULTILINE,
)
#: What Apprise takes for a scheme (`GET_SCHEMA_RE`); a MIME type is also called "protocol".
_SCHEME = re.compile(r"[a-z0-9]{1,32}", re.IGNORECASE)
_everything = False


#: The registry's parts this module relies on; without any of them Apprise loads as it does.
_RELIED_ON = (
    "_lock",
    "_loaded",
    "_module_map",
    "_schema_map",
    "_custom_module_map",
    "_build_dep_counter",
    "module_path",
    "module_name_prefix",
    "module_filter_re",
)


def start_lazily() -> None:
    """Make Apprise's registry look loaded, and empty, unless something has loaded it."""
    global _everything
    if not all(hasattr(_MANAGER, part) for part in _RELIED_ON):
        log.warning("this Apprise's registry is not the one expected: it loads every service")
        _everything = True
        return
    with _MANAGER._lock:
        if _MANAGER:
            return
        _MANAGER._module_map = {}
        _MANAGER._schema_map = {}
        _MANAGER._custom_module_map = {}
        _MANAGER._loaded.add(_MANAGER.module_path)


def load_for(url: str) -> None:
    """Register the Apprise service that reads `url` (every service when no one module is
    known to: a native URL, an unknown scheme)."""
    found = GET_SCHEMA_RE.match(url)
    if found is None:
        return  # not a URL: Apprise refuses it without asking any service
    schema = found.group("schema").lower()
    if _everything or schema in _MANAGER._schema_map:
        return
    with _LOADING:
        module = scheme_index().get(schema)
        if module is None or not _register(module) or schema not in _MANAGER._schema_map:
            _load_everything()


def _load_everything() -> None:
    global _everything
    if _everything:
        return
    for name in _service_modules():
        _register(name)
    _everything = True


def _register(name: str) -> bool:
    """Import one service module and enter its service as Apprise's loader does; False if
    the module is not one."""
    if name in _MANAGER._module_map:
        return True
    try:
        module = importlib.import_module(f"{_MANAGER.module_name_prefix}.{name}")
    except ImportError:
        log.debug("Apprise service module %s cannot be imported", name)
        return False
    for attribute in dir(module):
        if not _MANAGER.module_filter_re.match(attribute):
            continue
        plugin = getattr(module, attribute)
        if not hasattr(plugin, "app_id"):
            continue
        schemas = plugin.schemas(plugin) if callable(getattr(plugin, "schemas", None)) else set()
        with _MANAGER._lock:
            _MANAGER._module_map[name] = {
                "plugin": {plugin},
                "module": module,
                "path": f"{_MANAGER.module_name_prefix}.{name}",
                "native": True,
            }
            for schema in schemas:
                _MANAGER._schema_map.setdefault(schema, plugin)
            _MANAGER._build_dep_counter()
        return True
    return False


def _service_modules() -> list[str]:
    """The service modules in Apprise's plugins folder, in the order its loader takes them."""
    found = (_MODULE.match(entry) for entry in os.listdir(_MANAGER.module_path))
    return [match.group("name") for match in found if match]


@lru_cache(maxsize=1)
def scheme_index() -> dict[str, str]:
    """Each scheme a service module declares, to that module's name (the first to declare it,
    in the loader's order, as Apprise's own loader keeps the first)."""
    index: dict[str, str] = {}
    root = Path(_MANAGER.module_path)
    for name in _service_modules():
        path = root / name
        sources = sorted(path.rglob("*.py")) if path.is_dir() else [root / f"{name}.py"]
        for source in sources:
            for value in _PROTOCOL.findall(source.read_text(encoding="utf-8")):
                for schema in _literal_schemas(value):
                    index.setdefault(schema.lower(), name)
    return index


def _literal_schemas(text: str) -> list[str]:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return []
    values = [value] if isinstance(value, str) else list(value)
    return [v for v in values if isinstance(v, str) and _SCHEME.fullmatch(v)]
