"""The package reads top-down: no import circles, and lower floors never import higher ones."""
import ast
import pathlib

import mcthermo

ROOT = pathlib.Path(mcthermo.__file__).parent


def _imports():
    """{module: set of mcthermo modules it imports} (module names relative to mcthermo)."""
    modules = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix("__init__").rstrip(".")
        modules[name] = path
    edges = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
                for alias in node.names:
                    target = f"{base}.{alias.name}".strip(".")
                    found.add(target if target in modules else base)
        edges[name] = {m for m in found if m in modules and m != name}
    return edges


def _cycles(edges):
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in edges.get(node, ()):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return [c for c in cycles if "" not in c]


def test_no_import_circles():
    assert _cycles(_imports()) == []


def test_lower_floors_never_import_models():
    """systems/ and exact/ build on model.py and physics.py, never on the seed models above them
    (only the front ends of the Landau–Zener reference, exact/cli.py and exact/lz_comparison.py,
    take a LandauZener spec)."""
    front_ends = {"exact.cli", "exact.lz_comparison"}
    upward = {(m, t) for m, targets in _imports().items() for t in targets
              if m.split(".")[0] in ("systems", "exact", "kernels") and m not in front_ends
              and t.split(".")[0] == "models"}
    assert upward == set()
