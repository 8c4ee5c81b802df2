"""The program's shape, enforced: no import cycle, httpx and git each behind one module, pure
modules that import nothing heavy, nothing importing the CLI, a simulator that imports nothing
of the product, and no bare FlowvaultError (every error has its own class and exit code)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "flowvault"
PURE = {"flowvault.errors", "flowvault.models", "flowvault.canonical", "flowvault.protocol",
        "flowvault.references", "flowvault.plan", "flowvault.proof", "flowvault.flowdiff", "flowvault.leafdiff",
        "flowvault._version",
        "flowvault.jsontext", "flowvault.fleet"}
#: a third-party library → the one module allowed to import it
ONLY_IN = {"httpx": "flowvault.client", "git": "flowvault.history",  # (a package) "pyrage": "flowvault.crypto",
           "detect_secrets": "flowvault.secretscan"}
PURE_MAY_IMPORT = PURE  # and nothing else of flowvault


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, *, top_level_only: bool) -> set[str]:
    """Absolute names of the modules a file imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                root = ".".join(base + ([node.module] if node.module else []))
            else:
                root = node.module or ""
            out.add(root)
            for alias in node.names:  # `from . import x` may name a module
                candidate = f"{root}.{alias.name}"
                if (PKG.parent / Path(*candidate.split("."))).with_suffix(".py").exists() \
                        or (PKG.parent / Path(*candidate.split(".")) / "__init__.py").exists():
                    out.add(candidate)
    return out


def product_files() -> dict[str, Path]:
    return {module_name(p): p for p in PKG.rglob("*.py")}


def graph(files: dict[str, Path], *, top_level_only: bool = True) -> dict[str, set[str]]:
    return {m: {i for i in imports(p, top_level_only=top_level_only) if i in files} for m, p in files.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for m in sorted(g[n]):
            if state.get(m) == 1:
                return [*path[path.index(m):], m]
            if m not in state and (found := visit(m)):
                return found
        path.pop()
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_find_cycle_sees_a_cycle() -> None:
    """The checker itself: a planted cycle is found, a chain is not."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_between_modules() -> None:
    g = graph(product_files())
    assert g["flowvault"] == {"flowvault._version"}  # the package's own imports: the leaf only
    assert find_cycle(g) is None


def test_each_library_behind_one_module_and_the_cli_imported_by_nobody() -> None:
    files = product_files()
    for name, path in files.items():
        used = imports(path, top_level_only=False)
        roots = {u.split(".")[0] for u in used}
        for lib, owner in ONLY_IN.items():
            if lib == "httpx" and name.startswith("flowvault.simulator"):
                continue  # the simulator stands in for the vendor; it is no part of the product
            assert lib not in roots or name == owner or name.startswith(f"{owner}."), f"{name} imports {lib}"
        assert "flowvault.cli" not in used or name == "flowvault.__main__", f"{name} imports the CLI"


def test_pure_modules_import_only_each_other() -> None:
    files = product_files()
    for name in PURE:
        ours = {i for i in imports(files[name], top_level_only=False) if i.startswith("flowvault")}
        assert ours <= PURE_MAY_IMPORT, f"{name} imports {sorted(ours - PURE_MAY_IMPORT)}"


def test_the_simulator_imports_nothing_of_the_product() -> None:
    for name, path in product_files().items():
        if name.startswith("flowvault.simulator"):
            ours = {i for i in imports(path, top_level_only=False)
                    if i.startswith("flowvault") and not i.startswith("flowvault.simulator")}
            assert ours <= {"flowvault"}, f"{name} imports {sorted(ours)}"


def test_importing_a_pure_module_loads_no_client_git_or_actions() -> None:
    code = ("import sys, flowvault.canonical, flowvault.plan;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('httpx', 'git', 'anyio', 'rich', 'pyrage',"
            " 'detect_secrets')"
            " or m.startswith('flowvault.actions') or m == 'flowvault.client'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_raised_error_has_its_own_class() -> None:
    """A bare FlowvaultError would exit with the internal-error code: raise a subclass."""
    for name, path in product_files().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) \
                    and getattr(node.exc.func, "id", None) == "FlowvaultError":
                raise AssertionError(f"{name}:{node.lineno} raises the base FlowvaultError")


#: the floors, top down: a module may import its own floor's lower neighbours and any floor below,
#: never a floor above (lazy imports inside functions included)
FLOORS = [
    {"flowvault.__main__"},
    {"flowvault.cli"},
    {"flowvault.actions"},
    {"flowvault.ui"},
]


def floor_of(module: str) -> int:
    """0 for __main__, 1 the CLI, 2 the actions, 3 the UI, 4 every stage and pure module below."""
    for n, names in enumerate(FLOORS):
        if any(module == m or module.startswith(m + ".") for m in names):
            return n
    return len(FLOORS)


def test_no_arrow_runs_back_up_and_no_action_imports_another() -> None:
    """cli → actions → (ui) → stages → pure modules, lazy imports included; an action's shared
    pieces live in a stage module, never in another action."""
    files = product_files()
    back, lateral = [], []
    for name, deps in graph(files, top_level_only=False).items():
        for dep in deps:
            if dep in ("flowvault", "flowvault.actions", "flowvault.ui") or dep == name:
                continue
            if floor_of(dep) < floor_of(name):
                back.append(f"{name} -> {dep}")
            if name.startswith("flowvault.actions.") and dep.startswith("flowvault.actions."):
                lateral.append(f"{name} -> {dep}")
    assert not back, back
    assert not lateral, lateral


def test_the_layer_checker_sees_lazy_imports() -> None:
    """The checker itself: an import inside a function is an arrow like any other (the deleted-flows
    page reads the config lazily), and the floors are ordered."""
    lazy = imports(PKG / "ui" / "pages.py", top_level_only=False) - imports(PKG / "ui" / "pages.py",
                                                                            top_level_only=True)
    assert "flowvault.config" in lazy
    assert floor_of("flowvault.actions.export") < floor_of("flowvault.ui.pages") < floor_of("flowvault.history")


def test_exit_codes_are_picked_in_errors_and_cli_only() -> None:
    """A run returns its problem as an error; only the error classes (errors.py) and the CLI name
    an exit code. Any other module naming an EXIT_ constant decides a code of its own."""
    naming = {m for m, p in product_files().items() if not m.startswith("flowvault.simulator")
              and any(isinstance(n, ast.Name) and n.id.startswith("EXIT_") or
                      isinstance(n, ast.alias) and n.name.startswith("EXIT_")
                      for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))))}
    assert naming == {"flowvault.errors", "flowvault.cli"}, naming
