"""The package's import graph: one way, no cycle, and no private name taken from another module's inside.

Every ``import`` of a churnml module is read from the source, at the top of a module or inside a
function (an import deferred to a function still ties the modules together), but not those under
``if TYPE_CHECKING:``, which never run. The rules:

- imports run one way through the layers (``LAYERS``: foundations, contract, engines, features,
  modeling, explain, scoring, tracking, reporting, the engines' own packages, the facade and the CLI);
- no cycle among modules;
- every name imported from a churnml module exists there (inside functions too);
- no name starting with ``_`` imported from a public module (its private names are its own); a
  private module (``churnml/_duckdb.py``) holds what several modules share, under public names;
- a subpackage's private modules (``churnml/engines/_sql.py``) are imported only inside it: the others
  use what the subpackage exports;
- each module imports on its own, first, in a fresh interpreter state.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path


PACKAGE = Path(__file__).resolve().parents[1] / "churnml"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skipped.update(id(n) for n in ast.walk(child))
    return skipped


def imports(name: str) -> list[tuple[str, str | None, int]]:
    """(module imported, name taken from it or None, line) for each churnml import in module ``name``."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skipped = _type_checking_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names if a.name.split(".")[0] == "churnml"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "churnml":
                continue
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                found.append((submodule, None, node.lineno) if submodule in MODULES else
                             (module, alias.name, node.lineno))
    return found


def graph() -> dict[str, set[str]]:
    return {name: {m for m, _, _ in imports(name) if m in MODULES and m != name} for name in MODULES}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``edges`` as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_import_graph_has_no_cycle():
    assert find_cycle(graph()) is None


def test_the_cycle_finder_finds_one():
    # the check above could pass by never finding anything: a planted cycle is found, with its path
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_imports_inside_functions_and_relative_imports_are_read():
    edges = graph()
    # the feature builder asks the engine registry inside its methods
    assert "churnml.engines" in edges["churnml.features._spec"]
    # under TYPE_CHECKING only: churnml.engines._base names churnml.features in annotations
    assert "churnml.features" not in edges["churnml.engines._base"]


# The layers, lowest first: a module imports only from its own layer and the layers before it. A layer is a
# subpackage (its private modules and its public ones), a top-level module, or an engine's own package:
# the engines' contract and shared SQL sit under the features, while each engine's plan, which returns
# training sets and trainers, sits above what it returns and is imported only through the registry.
LAYERS = [
    "churnml._version", "churnml.errors", "churnml._progress", "churnml._io", "churnml._duckdb", "churnml.btyd",
    "churnml.generator",
    "churnml.contract",
    "churnml.engines",
    "churnml.features",
    "churnml.modeling",
    "churnml.explain",
    "churnml.scoring",
    "churnml.tracking",
    "churnml.reporting",
    "churnml.engines.duckdb", "churnml.engines.spark",
    "churnml.spark", "churnml.config", "churnml.cli", "churnml", "churnml.__main__",
]


def layer(module: str) -> str:
    """The layer ``module`` belongs to: the longest entry of LAYERS that is it or a package above it."""
    found = [m for m in LAYERS if module == m or module.startswith(m + ".")]
    assert found, f"{module} is in no layer: add its subpackage to LAYERS"
    return max(found, key=len)


def test_imports_run_one_way_through_the_layers():
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = [f"{name}:{line} imports {module}" for name in MODULES for module, _, line in imports(name)
              if module in MODULES and rank[layer(module)] > rank[layer(name)]]
    assert upward == []


def test_every_module_is_in_a_layer():
    assert [m for m in MODULES if not any(m == x or m.startswith(x + ".") for x in LAYERS)] == []
    assert layer("churnml.engines.duckdb._compile") == "churnml.engines.duckdb"
    assert layer("churnml.engines._sql") == "churnml.engines"


def _is_private(module: str) -> bool:
    return any(part.startswith("_") for part in module.split(".")[1:])


def test_no_private_name_is_imported_from_a_public_module():
    offenders = [f"{name}:{line} takes {taken} from {module}"
                 for name in MODULES for module, taken, line in imports(name)
                 if taken is not None and taken.startswith("_") and not taken.startswith("__")
                 and module != name and not _is_private(module)]
    assert offenders == []


def test_a_subpackages_private_modules_are_imported_only_inside_it():
    offenders = []
    for name in MODULES:
        for module, _, line in imports(name):
            parts = module.split(".")
            # churnml.<subpackage>._<module>: private to churnml.<subpackage>
            private = [i for i, part in enumerate(parts) if i >= 2 and part.startswith("_")]
            if private and not (name + ".").startswith(".".join(parts[:private[0]]) + "."):
                offenders.append(f"{name}:{line} imports {module}")
    assert offenders == []


# run when imported: MLflow's models-from-code file (set_model) and the CLI entry point
SKIPPED = {"churnml.tracking._pyfunc_model", "churnml.__main__", "churnml.cli.__main__"}

FIRST_AND_ALONE = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "churnml" or m.startswith("churnml.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc(limit=-3))
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_each_module_imports_first_and_alone():
    """A cycle hidden from the reader (a lazy import, the registry's module names) shows as an ImportError.
    Before each module, every churnml module is forgotten (the libraries they use stay loaded, which is
    what keeps this fast)."""
    names = [n for n in MODULES if n not in SKIPPED]
    if importlib.util.find_spec("pyspark") is None:
        names = [n for n in names if "spark" not in n]
    result = subprocess.run([sys.executable, "-c", FIRST_AND_ALONE, *names], capture_output=True, text=True,
                            cwd=PACKAGE.parent, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_every_name_imported_from_churnml_exists():
    """An import inside a function runs only when the function does: a name a subpackage does not export
    would pass every check above and fail in the user's hands. Each one is looked up here."""
    import importlib

    spark = importlib.util.find_spec("pyspark") is not None
    missing = []
    for name in MODULES:
        for module, taken, line in imports(name):
            if taken is None or taken == "*" or (not spark and "spark" in module):
                continue
            if module not in MODULES:
                missing.append(f"{name}:{line} imports from {module}, which is not a churnml module")
                continue
            if not hasattr(importlib.import_module(module), taken):
                missing.append(f"{name}:{line} imports {taken} from {module}, which has no such name")
    assert missing == []
