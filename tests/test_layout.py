"""House rules: one import package, layers that only look down, readable folders, README.

One import package, layers that only look down, folders a newcomer can read, and the
README's commands."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UI_MODULES = {"textual", "typer", "rich"}
# core/'s layers, lowest first: a package imports only the packages before it (and the
# modules at the top of core/, layer 0). Each package's __init__ docstring says the same.
LAYERS = (
    "",
    "text",
    "models",
    "internals",
    "decoding",
    "runs",
    "interop",
    "training",
    "experiments",
    "report",
)
MAX_MODULES = 12  # a folder holding more says nothing about where a feature lives


def imports(path: Path) -> list[str]:
    """Every module a file imports, absolute names only (the project has no relative ones)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: a relative import"
            names.append(node.module)
    return names


def layer_of(module: str) -> int | None:
    """The layer of a `charlm_tui.core...` module, or None for anything else."""
    parts = module.split(".")
    if parts[:2] != ["charlm_tui", "core"]:
        return None
    if len(parts) > 3 and parts[2] in LAYERS:
        return LAYERS.index(parts[2])
    return LAYERS.index(parts[2]) if len(parts) == 3 and parts[2] in LAYERS else 0


def core_files() -> list[Path]:
    return sorted((ROOT / "core").rglob("*.py"))


def test_core_never_imports_ui_code() -> None:
    for path in core_files():
        for name in imports(path):
            top = name.split(".")[0]
            assert top not in UI_MODULES, f"{path}: imports {name}"
            assert not name.startswith("charlm_tui.tui"), f"{path}: imports {name}"


def test_core_packages_import_only_the_layers_below_them() -> None:
    for path in core_files():
        rel = path.relative_to(ROOT / "core").parts
        mine = LAYERS.index(rel[0]) if len(rel) > 1 else 0
        for name in imports(path):
            theirs = layer_of(name)
            if theirs is not None and name != "charlm_tui.core":
                assert theirs <= mine, f"{path} (layer {LAYERS[mine] or 'core'}) imports {name}"


def test_nothing_imports_the_old_top_level_names() -> None:
    for folder in ("core", "tui", "tests", "bench", "charlm_tui"):
        for path in (ROOT / folder).rglob("*.py"):
            for name in imports(path):
                assert name.split(".")[0] not in ("core", "tui"), f"{path}: imports {name}"


def test_every_package_folder_is_in_pyproject_and_none_is_crowded() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    listed = set(config["setuptools"]["packages"])
    mounts = {v: k for k, v in config["setuptools"]["package-dir"].items()}
    found = set()
    for top in ("core", "tui", "charlm_tui"):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT).parts
            found.add(".".join([mounts[rel[0]], *rel[1:]]))
            modules = list(init.parent.glob("*.py"))
            assert len(modules) <= MAX_MODULES, f"{init.parent} holds {len(modules)} modules"
    assert found == listed


def test_every_module_opens_with_a_docstring() -> None:
    for folder in ("core", "tui", "charlm_tui"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            assert ast.get_docstring(tree), f"{path} has no module docstring"


def test_importing_all_of_core_loads_no_ui_module() -> None:
    code = (
        "import pkgutil, importlib, sys, charlm_tui.core as core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'charlm_tui.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "ui = {'textual', 'typer', 'rich'}\n"
        "print(sorted(m for m in sys.modules\n"
        "             if m.split('.')[0] in ui or m.startswith('charlm_tui.tui')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", readme, flags=re.S)
    commands = [line for line in blocks[0].splitlines() if line.strip()]
    assert len(commands) == 2, "the README opens with exactly two commands"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1].strip() in ci
