"""The layering of the code base, read from the source with `ast` (every import, including those inside functions):
no import cycles, the store and the probes stand alone (they never import interp, nor each other), no private name
crosses a module boundary, and forward hooks are registered in one place (interp/models/hooks.py)."""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("activations_store", "probes", "interp")
HOOKS_MODULE = "interp.models.hooks"


@dataclass(frozen=True)
class Edge:
    """`src` imports `dst` (a project module) at path:line; `name` is what it takes from dst, if anything."""

    src: str
    dst: str
    path: str
    line: int
    name: str = ""

    def __str__(self) -> str:
        what = f" ({self.name})" if self.name else ""
        return f"{self.src} -> {self.dst}{what}  [{self.path}:{self.line}]"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for p in sorted((ROOT / pkg).rglob("*.py")):
            out[_module_name(p)] = p
    return out


MODULES = _modules()


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _project(name: str) -> str | None:
    """The longest prefix of a dotted name that is a project module."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        cand = ".".join(parts[:k])
        if cand in MODULES:
            return cand
    return None


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


@dataclass
class Scan:
    """What one file imports and which private names it reaches on other modules."""

    edges: list[Edge]
    private: list[Edge]
    hook_calls: list[str]


def _scan(mod: str, path: Path, source: str | None = None) -> Scan:
    tree = ast.parse(path.read_text() if source is None else source, str(path))
    rel = str(path.relative_to(ROOT))
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    edges: list[Edge] = []
    private: list[Edge] = []
    hook_calls: list[str] = []
    bound: dict[str, str] = {}  # local name -> project module it refers to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                target = _project(a.name)
                if target is None:
                    continue
                edges.append(Edge(mod, target, rel, node.lineno))
                if a.asname:
                    bound[a.asname] = target
                elif a.name.split(".")[0] in MODULES:  # `import a.b` binds `a`
                    bound.setdefault(a.name.split(".")[0], a.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            target = _project(source)
            if target is None or target != source:
                continue  # not a project module (a third-party import)
            for a in node.names:
                sub = f"{source}.{a.name}"
                if sub in MODULES:  # `from pkg import submodule`
                    edges.append(Edge(mod, sub, rel, node.lineno))
                    bound[a.asname or a.name] = sub
                    if _is_private(a.name):
                        private.append(Edge(mod, source, rel, node.lineno, a.name))
                    continue
                edges.append(Edge(mod, source, rel, node.lineno, a.name))
                if _is_private(a.name):
                    private.append(Edge(mod, source, rel, node.lineno, a.name))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if node.attr in ("register_forward_hook", "register_forward_pre_hook") and mod != HOOKS_MODULE:
                hook_calls.append(f"{mod}: .{node.attr}  [{rel}:{node.lineno}]")
            if not _is_private(node.attr):
                continue
            chain = _dotted(node.value)
            if chain is None:
                continue
            head, _, rest = chain.partition(".")
            if head not in bound:
                continue
            target = _project(".".join([bound[head], *([rest] if rest else [])]))
            if target is not None and target != mod:
                private.append(Edge(mod, target, rel, node.lineno, node.attr))
    return Scan(edges, private, hook_calls)


SCANS = {m: _scan(m, p) for m, p in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (or a module importing itself), Tarjan."""
    graph = {m: sorted({e.dst for e in s.edges}) for m, s in SCANS.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph[v]:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _report(title: str, lines: list[str]) -> str:
    return f"{title}:\n  " + "\n  ".join(lines)


def test_the_scan_sees_known_imports():
    """Guards the scanner itself: imports known to exist (module level, relative, inside a function) are found."""
    edges = {(e.src, e.dst) for s in SCANS.values() for e in s.edges}
    assert ("interp.models.load", "interp.models.checkpoint") in edges  # relative, module level
    assert ("interp.capture.pipeline", "activations_store") in edges  # absolute
    assert ("interp.models.text_only", "interp.models.load") in edges  # inside a function
    assert ("interp.intervene.ablate", "interp.capture") in edges  # inside a function, from a package


def test_the_scan_sees_private_names_however_they_are_reached():
    code = """
import interp.models.load as L
import interp.models
from interp.models import load
from interp.models.hooks import attached


def f(m):
    from .models.hooks import _w
    m.register_forward_hook(None)
    return L._x, interp.models.load._y, load._z, attached._not_a_module, m._not_a_module, load.__name__
"""
    scan = _scan("interp.fake", ROOT / "interp" / "fake.py", code)
    assert sorted((e.dst, e.name) for e in scan.private) == [
        ("interp.models.hooks", "_w"), ("interp.models.load", "_x"), ("interp.models.load", "_y"),
        ("interp.models.load", "_z")]
    assert scan.hook_calls == ["interp.fake: .register_forward_hook  [interp/fake.py:10]"]


def test_no_import_cycles():
    cycles = _cycles()
    lines = []
    for comp in cycles:
        members = set(comp)
        lines.append("cycle among " + ", ".join(comp))
        lines += [f"    {e}" for m in comp for e in SCANS[m].edges if e.dst in members]
    assert not cycles, _report("import cycles", lines)


def test_store_and_probes_do_not_import_interp():
    bad = [str(e) for m, s in SCANS.items() if m.split(".")[0] in ("activations_store", "probes")
           for e in s.edges if e.dst.split(".")[0] == "interp"]
    assert not bad, _report("activations_store / probes import interp", bad)


def test_store_and_probes_do_not_import_each_other():
    pairs = {("activations_store", "probes"), ("probes", "activations_store")}
    bad = [str(e) for s in SCANS.values() for e in s.edges if (e.src.split(".")[0], e.dst.split(".")[0]) in pairs]
    assert not bad, _report("activations_store and probes import each other", bad)


def test_no_private_name_crosses_a_module_boundary():
    bad = [str(e) for s in SCANS.values() for e in s.private]
    assert not bad, _report("private names taken from other project modules", bad)


def test_forward_hooks_are_registered_only_in_hooks_py():
    bad = [c for s in SCANS.values() for c in s.hook_calls]
    assert not bad, _report(f"register_forward_* outside {HOOKS_MODULE}", bad)
