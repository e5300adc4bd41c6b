"""The layer contract of spbe_share, checked on every import (issue 23).

Imports run one way: CLI -> operations -> (plans, remote, records) -> the domain -> the
foundations. This file is the one place the contract is written down: :data:`LAYERS`, top to
bottom. A component is a package of spbe_share (``ops``) or a module at its top (``audit``). A
module may import its own component and the components of LOWER layers; components in one
layer know nothing of each other. On top of that no two modules may import each other in a
circle, whatever the way: at module level, inside a function, under ``TYPE_CHECKING``.

Every ``import`` and ``from ... import`` of every module is read with ``ast`` (nothing is
imported here), relative imports resolved, ``from pkg import name`` taken as the submodule
``pkg.name`` when there is one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "spbe_share"

# Top to bottom. A component may import only components of the layers below its own.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("i18n_catalog",),  # developer tool: the Indonesian catalog of the CLI's messages
    ("__main__",),
    ("cli",),  # click, terminal output, exit codes
    ("site",),  # the static web catalog (renders fleet status)
    ("fleet", "reports"),  # one operation over many targets | reuse and SPBE reports
    ("vuln",),  # OSV records, SBOM matching, the audit of what runs where
    ("ops",),  # the operations core and one module per operation
    ("plans", "remote"),  # pure builders | how the controller reaches a target
    ("records",),  # what a target keeps, read back as untrusted
    ("provision", "lint", "mou"),  # provision bundles | catalog lint | MoU drafts
    ("bundle",),  # signed app bundles and the trust in their signers
    ("imaging", "agreements", "targets", "tlscerts"),  # images | MoU/PKS records | the inventory | TLS certificates
    ("catalog",),  # entry models, loading, sources, search
    ("audit", "sandbox", "sealing"),  # audit log | template sandbox | sealed secrets
    ("outside", "yamlio", "workspace", "i18n", "files", "meter"),  # outside data | YAML | the workspace | language | writes | byte counts
    ("errors",),
    ("spbe_share",),  # the package itself (its version)
)


def layer_of(component: str) -> int:
    for i, layer in enumerate(LAYERS):
        if component in layer:
            return i
    raise KeyError(component)


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """(module imported, line) for every import of ``name`` that names a module of ``known``."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]

    def owner(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found = owner(alias.name)
                if found:
                    yield found, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found = sub if sub in known else owner(base)
                if found:
                    yield found, node.lineno


def graph(package: Path = PACKAGE) -> dict[str, dict[str, int]]:
    """module -> {module it imports: first line}, spbe_share's own modules only."""
    mods = modules(package)
    known = set(mods)
    out: dict[str, dict[str, int]] = {}
    for name, path in mods.items():
        edges: dict[str, int] = {}
        for target, line in imports(name, path, known):
            if target != name:
                edges.setdefault(target, line)
        out[name] = edges
    return out


def circles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(edges.get(child, {})))))
                elif child in on:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                scc = []
                while True:
                    top = stack.pop()
                    on.discard(top)
                    scc.append(top)
                    if top == node:
                        break
                if len(scc) > 1:
                    found.append(sorted(scc))
    return found


def component(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_no_module_imports_another_in_a_circle() -> None:
    edges = graph()
    found = circles(edges)
    described = []
    for scc in found:
        ties = [f"{a} -> {b} (line {edges[a][b]})" for a in scc for b in sorted(edges[a]) if b in scc]
        described.append(f"{len(scc)} modules: " + "; ".join(ties))
    assert not found, "import circles:\n" + "\n".join(described)


def test_every_component_has_its_layer() -> None:
    components = {component(m) for m in modules()}
    placed = {c for layer in LAYERS for c in layer}
    assert components - placed == set(), "add them to LAYERS"
    assert placed - components == set(), "LAYERS names components that do not exist"


def test_imports_run_down_the_layers() -> None:
    wrong = []
    for module, targets in graph().items():
        mine = component(module)
        for target, line in targets.items():
            theirs = component(target)
            if theirs != mine and layer_of(theirs) <= layer_of(mine):
                how = "the same layer" if layer_of(theirs) == layer_of(mine) else "a higher layer"
                wrong.append(f"{module}:{line} imports {target} ({theirs} is in {how} than {mine})")
    assert not wrong, "\n".join(wrong)


def test_the_checks_see_what_they_must(tmp_path: Path) -> None:
    """A circle made by an import inside a function, and an import up the layers, are found."""
    pkg = tmp_path / "spbe_share"
    (pkg / "ops").mkdir(parents=True)
    (pkg / "records").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "ops" / "__init__.py").write_text("")
    (pkg / "records" / "__init__.py").write_text("")
    (pkg / "ops" / "core.py").write_text("from ..records import state\n")
    (pkg / "records" / "state.py").write_text("def f():\n    from spbe_share.ops.core import x\n")
    edges = graph(pkg)
    assert edges["spbe_share.ops.core"] == {"spbe_share.records.state": 1}
    assert edges["spbe_share.records.state"] == {"spbe_share.ops.core": 2}
    assert circles(edges) == [["spbe_share.ops.core", "spbe_share.records.state"]]
    assert layer_of("records") > layer_of("ops")


def test_click_only_in_cli() -> None:
    """click (and the terminal) belong to spbe_share/cli/ alone."""
    found = []
    for name, path in modules().items():
        if component(name) == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            found += [f"{name}:{node.lineno}" for m in mods if m.split(".")[0] == "click"]
    assert not found, "click outside spbe_share/cli: " + ", ".join(found)


@pytest.mark.parametrize("name", ["ops", "plans", "remote", "records", "targets", "imaging", "catalog", "fleet"])
def test_each_package_says_what_belongs_there_and_who_may_import_it(name: str) -> None:
    doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text(encoding="utf-8"))) or ""
    assert "May import" in doc, f"spbe_share/{name}/__init__.py: its docstring names what it may import"
