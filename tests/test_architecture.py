"""The house a newcomer walks (docs/architecture.md): no import circle in `guardian/` and
`plugins/`, counting the imports inside functions, and the core never reaching the admin side.

The graph is built from the code with `ast`, not from `sys.modules`: an import inside a function
counts as much as one at the top, since it is a dependency all the same.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("guardian", "plugins")
#: The admin side: the API, the pages, the login and what mounts them.
ADMIN = ("guardian.routes", "guardian.auth", "guardian.api", "guardian.dashboard", "guardian.app")
#: The core and what it is built from: none of these may depend on the admin side.
CORE = (
    "guardian.core",
    "guardian.state",
    "guardian.ingest",
    "guardian.writer",
    "guardian.scheduler",
    "guardian.delivery",
    "guardian.policy",
    "guardian.summary",
    "guardian.settings",
    "guardian.models",
    "guardian.plugin",
)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts or "node_modules" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The modules of `known` that `name` imports, anywhere in its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            # `from guardian import ingest` imports the module guardian.ingest.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(imported(name, path, known)) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for after in sorted(edges[node]):
            if after not in index:
                visit(after)
                low[node] = min(low[node], low[after])
            elif after in on_stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for after in edges[todo.pop()]:
            if after not in seen:
                seen.add(after)
                todo.append(after)
    return seen


def test_the_graph_sees_imports_inside_functions() -> None:
    edges = graph()
    assert "guardian.scenario" in edges["guardian.cli"]  # imported inside `_simulate`
    assert "guardian.routes" in edges["guardian.app"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_one_that_imports_it_back() -> None:
    circles = cycles(graph())
    assert circles == [], "import circles: " + "; ".join(" ↔ ".join(c) for c in circles)


def within(module: str, packages: tuple[str, ...]) -> bool:
    """`module` is one of `packages` or inside one (guardian.apprise_services is not in
    guardian.app)."""
    return any(module == p or module.startswith(f"{p}.") for p in packages)


def test_the_core_never_reaches_the_admin_side() -> None:
    edges = graph()
    for module in CORE:
        reached = sorted(m for m in reachable(edges, module) if within(m, ADMIN))
        assert reached == [], f"{module} reaches the admin side: {reached}"


def test_auth_imports_neither_the_dashboard_nor_ingest() -> None:
    reached = reachable(graph(), "guardian.auth")
    assert not {m for m in reached if within(m, ("guardian.dashboard", "guardian.ingest"))}


def test_the_admin_side_sees_the_service_only_through_its_view() -> None:
    """The API, the pages and the login read the running service as `state.ServiceView`
    (`app[SERVICE]`), never the core's whole `Service`: they do not import guardian.core."""
    edges = graph()
    admin_side = [m for m in edges if within(m, (*ADMIN[:4], "guardian.admin"))]
    assert "guardian.api.members" in admin_side and "guardian.dashboard.login" in admin_side
    for module in admin_side:
        assert "guardian.core" not in edges[module], module
