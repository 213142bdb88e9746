"""The import graph of the installed packages: every arrow points down the layers below, and
no modules import each other in a circle. The layers are the README's architecture diagram.

    python -m scripts.import_graph          # prints the package graph; exit 1 on a violation

Function-local imports count too (they are arrows all the same), and so do dotted names
handed to importlib, uvicorn or RQ as strings.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Lower layers first. A package may import only packages of a lower layer.
LAYERS: list[tuple[str, ...]] = [
    ("kinoseal",),                        # config, errors, version
    ("mediaio", "scenes"),                # video I/O and boxes; procedural scenes
    ("credentials", "watermark", "fingerprint", "detect"),  # C2PA, the watermark methods, the content fingerprint, the classifier
    ("label", "verify"),                  # the write side and the read side of provenance
    ("generate",),                        # models; every frame leaves through label
    ("training", "evaluation"),           # trainings and harnesses: never under verify or label
    ("api",),                             # cli and http surfaces
]
RANK = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}
# Sub-packages with their own order: the HTTP service never imports the command line.
SUB_RANK = {"kinoseal.api.http": 0, "kinoseal.api.cli": 1}
STRING_REF = re.compile(r"""["'](kinoseal(?:\.[a-z_]+)+)(?::\w+)?["']""")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts if parts[0] == "kinoseal" else ["kinoseal", *parts])


def imports(path: Path, name: str) -> tuple[set[str], set[str]]:
    """(all imported kinoseal modules, those imported at module level)."""
    tree = ast.parse(path.read_text(), str(path))
    every, top = set(), set()
    top_nodes = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        found: list[str] = []
        if isinstance(node, ast.Import):
            found = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                raise SystemExit(f"{path}: relative import; kinoseal uses absolute imports only")
            found = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = STRING_REF.fullmatch(repr(node.value)) or STRING_REF.fullmatch(f'"{node.value}"')
            found = [m.group(1)] if m else []
        found = [f for f in found if f == "kinoseal" or f.startswith("kinoseal.")]
        every.update(found)
        if id(node) in top_nodes:
            top.update(found)
    return every, top


def package_of(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else "kinoseal"


def sub_of(mod: str) -> str | None:
    return next((s for s in SUB_RANK if mod == s or mod.startswith(s + ".")), None)


def collect() -> dict[str, tuple[set[str], set[str]]]:
    out = {}
    for pkg in RANK:
        d = ROOT / pkg
        for path in sorted(d.rglob("*.py")):
            if "node_modules" in path.parts:
                continue
            name = module_name(path)
            out[name] = imports(path, name)
    return out


def resolve(target: str, modules: set[str]) -> str | None:
    """The module a dotted import name lands in (``pkg.mod.Name`` -> ``pkg.mod``)."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
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
        for w in graph.get(v, ()):
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
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def check(extra: dict[str, tuple[set[str], set[str]]] | None = None) -> tuple[dict[str, set[str]], list[str]]:
    """(package edges, violations); ``extra`` adds modules as (all imports, module-level imports)."""
    mods = {**collect(), **(extra or {})}
    names = set(mods)
    problems: list[str] = []
    pkg_edges: dict[str, set[str]] = defaultdict(set)
    top_graph: dict[str, set[str]] = defaultdict(set)
    for mod, (every, top) in mods.items():
        src = package_of(mod)
        for t in every:
            tgt_mod = resolve(t, names)
            if tgt_mod is None or tgt_mod == mod:
                continue
            dst = package_of(tgt_mod)
            if dst != src:
                pkg_edges[src].add(dst)
                if RANK[dst] >= RANK[src]:
                    problems.append(f"{mod} imports {tgt_mod}: {src} may not import {dst} (same or higher layer)")
            s_sub, d_sub = sub_of(mod), sub_of(tgt_mod)
            if s_sub and d_sub and s_sub != d_sub and SUB_RANK[d_sub] > SUB_RANK[s_sub]:
                problems.append(f"{mod} imports {tgt_mod}: {s_sub} may not import {d_sub}")
        for t in top:
            tgt_mod = resolve(t, names)
            # a package's own __init__ re-exporting its modules is not a circle
            if tgt_mod and tgt_mod != mod and not mod.startswith(tgt_mod + "."):
                top_graph[mod].add(tgt_mod)
    for comp in cycles(top_graph):
        problems.append("modules import each other in a circle: " + " -> ".join(comp))
    return pkg_edges, problems


def main() -> int:
    edges, problems = check()
    for layer in LAYERS:
        for pkg in layer:
            print(f"{pkg:12s} -> {', '.join(sorted(edges.get(pkg, ()), key=lambda p: (RANK[p], p))) or '-'}")
    for p in problems:
        print("VIOLATION:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
