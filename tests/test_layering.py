"""Dependencies point one way (DEVELOPERS.md): api → maas → routing, operators → feeds. Walks every import
(function-level ones too) of the top-level packages and fails on an upward import or a cycle between packages."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "maas", "routing", "operators", "feeds")
ALLOWED = {
    "feeds": set(),
    "routing": {"feeds"},
    "operators": {"feeds"},
    "maas": {"routing", "operators", "feeds"},
    "api": {"maas", "routing", "operators", "feeds"},
}
# The process entry point: `maas serve` starts the aiohttp server. It is the composition root (a lazy import in
# the command's function, never at module import), kept so `python -m maas.cli serve` and the installed `maas`
# script keep working; nothing else in maas may import api.
ENTRY_POINTS = {("maas/cli.py", "api.server")}


def imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.module, node.lineno))
    return out


def package_edges() -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for module, line in imports(path):
                top = module.split(".")[0]
                if top in PACKAGES and top != pkg and (rel, module) not in ENTRY_POINTS:
                    edges.setdefault((pkg, top), []).append(f"{rel}:{line} imports {module}")
    return edges


def test_no_upward_imports():
    bad = [where for (src, dst), places in package_edges().items() if dst not in ALLOWED[src] for where in places]
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_cycles_between_packages():
    graph: dict[str, set[str]] = {p: set() for p in PACKAGES}
    for src, dst in package_edges():
        graph[src].add(dst)
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path + [node, nxt]
            if nxt not in state and (cycle := visit(nxt, path + [node])):
                return cycle
        state[node] = 2
        return None

    for p in PACKAGES:
        if p not in state:
            cycle = visit(p, [])
            assert cycle is None, "import cycle between packages: " + " → ".join(cycle)


# routing.raptor's modules bottom-up (its docstring): each imports only those before it, never the package itself
RAPTOR_LAYERS = ("kernel_cache", "state", "bounds", "rounds", "journeys", "profile", "arrays", "query", "pools",
                 "search")


def test_raptor_modules_import_only_those_below():
    bad = []
    for path in sorted((ROOT / "routing" / "raptor").glob("*.py")):
        if path.stem == "__init__":
            continue
        assert path.stem in RAPTOR_LAYERS, f"routing/raptor/{path.name}: place it in RAPTOR_LAYERS"
        for module, line in imports(path):
            if module == "routing.raptor" or module.startswith("routing.raptor."):
                sub = module.split(".")[2] if module.count(".") >= 2 else "__init__"
                if sub not in RAPTOR_LAYERS or RAPTOR_LAYERS.index(sub) >= RAPTOR_LAYERS.index(path.stem):
                    bad.append(f"routing/raptor/{path.name}:{line} imports {module}")
    assert not bad, "routing.raptor imports against its layers:\n" + "\n".join(bad)


def test_the_walker_sees_function_level_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from operators.money import yen\n    import api.app\n")
    assert [m for m, _ in imports(f)] == ["operators.money", "api.app"]
