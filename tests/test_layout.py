"""The package's shape: no import cycles, one job per module, the public API as documented."""

from __future__ import annotations

import ast
from pathlib import Path

import livethresh

PACKAGE = Path(livethresh.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    """Whether ``name`` (``livethresh.x.y``) is a module or package of livethresh."""
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imports_at_load(path: Path) -> set[str]:
    """The livethresh modules ``path`` imports when it is loaded (not inside functions, not
    only for type checking)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:  # module level only: function-level imports run later
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            continue
        for child in ast.walk(node):
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                if child.module.startswith("livethresh"):
                    found.add(child.module)
                    found.update(
                        f"{child.module}.{alias.name}"
                        for alias in child.names
                        if is_module(f"{child.module}.{alias.name}")
                    )
            elif isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.startswith("livethresh"))
    return found


def imports_anywhere(path: Path) -> set[str]:
    """Every livethresh module ``path`` names in an import: at load, inside functions, and
    for type checking alike (a rule about which rooms know each other covers them all)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("livethresh")}


def within(name: str, package: str) -> bool:
    """Whether module ``name`` is ``package`` or inside it."""
    return name == package or name.startswith(package + ".")


#: Rooms that must not know each other: (importers, what they may not import, why).
SEPARATED = [
    (
        ("livethresh.sinks", "livethresh.encode"),
        "livethresh.sources",
        "the masks' end of the pipe depends on a Protocol for a demuxed input, not on sources",
    ),
    (
        ("livethresh.sources",),
        "livethresh.sinks",
        "the frames' end of the pipe knows nothing of where masks go",
    ),
    (
        ("livethresh.sources",),
        "livethresh.encode",
        "the frames' end of the pipe knows nothing of the muxer",
    ),
    (
        ("livethresh.encode",),
        "livethresh.sinks",
        "the muxer is behind the encoder sink and never calls back into the sinks",
    ),
]


def separation_breaches(
    imports: dict[str, set[str]], rules: list[tuple[tuple[str, ...], str, str]]
) -> list[str]:
    """One line per module that imports what a rule keeps away from it."""
    return [
        f"{module} imports {target}: {why}"
        for importers, forbidden, why in rules
        for module, names in sorted(imports.items())
        if any(within(module, package) for package in importers)
        for target in sorted(names)
        if within(target, forbidden)
    ]


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        graph[name] = {m for m in imports_at_load(path) if m in modules and m != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            # A package's submodule importing its own package's __init__ is how Python loads
            # it anyway (the parent first), not a cycle of ours.
            if node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert graph.get("livethresh.pipeline")  # the walk sees imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_two_ends_of_the_pipe_never_meet() -> None:
    imports = {module_name(p): imports_anywhere(p) for p in PACKAGE.rglob("*.py")}
    assert any(within(m, "livethresh.encode") for m in imports)  # the walk sees the muxer
    assert separation_breaches(imports, SEPARATED) == []


def test_the_separation_check_finds_a_breach() -> None:
    imports = {
        "livethresh.encode.audio": {"livethresh.sources.pyav"},
        "livethresh.sinks": {"livethresh.frames"},
        "livethresh.transcode": {"livethresh.sources", "livethresh.sinks"},
    }
    assert separation_breaches(imports, SEPARATED) == [
        "livethresh.encode.audio imports livethresh.sources.pyav: the masks' end of the pipe "
        "depends on a Protocol for a demuxed input, not on sources"
    ]


def test_no_module_holds_two_jobs() -> None:
    """About 300 lines is where a module starts to hold two jobs."""
    too_long = {
        module_name(p): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 340
    }
    assert not too_long


def test_every_module_says_its_role() -> None:
    missing = [
        module_name(p)
        for p in PACKAGE.rglob("*.py")
        if p.name != "__main__.py" and ast.get_docstring(ast.parse(p.read_text())) is None
    ]
    assert not missing
