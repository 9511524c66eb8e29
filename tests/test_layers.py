"""The layers and the public faces of docs/architecture.md hold in the code.

The layer order is an import-linter contract in pyproject.toml; the rule that
no package imports another package's private module is checked here by
reading every import in src.
"""

from __future__ import annotations

import ast
import functools
import importlib
import sys
import tomllib
from pathlib import Path

import pytest
from importlinter import configuration
from importlinter.application import use_cases

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "datacompact"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _source_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _is_package(module: str) -> bool:
    return (SRC / module.replace(".", "/") / "__init__.py").is_file()


def _is_module(module: str) -> bool:
    path = SRC / module.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imported(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """Every ``datacompact`` name imported: modules, and ``module.name`` for ``from`` imports."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".") if is_package else module.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.startswith("datacompact.")]


def _private_owner(name: str) -> tuple[str, str] | None:
    """The first private part of ``name`` and the package it belongs to, if any.

    A private module belongs to the package that holds it; a private name
    defined in a module, to that module's package.
    """
    parts = name.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            private = ".".join(parts[: i + 1])
            holder = ".".join(parts[:i])
            if not _is_module(private) and not _is_package(holder):
                holder = holder.rpartition(".")[0]
            return private, holder
    return None


@functools.cache
def _imports_of(path: Path) -> list[tuple[int, str]]:
    """The imports of a source file, its doctest examples' imports included."""
    module, is_package = _module_name(path), path.name == "__init__.py"
    text = path.read_text(encoding="utf-8")
    found = _imported(ast.parse(text, filename=str(path)), module, is_package)
    for number, line in enumerate(text.splitlines(), start=1):
        example = line.strip().removeprefix(">>> ")
        if example != line.strip() and example.startswith(("from ", "import ")):
            found += [(number, name) for _l, name in _imported(ast.parse(example), module, False)]
    return found


def _private_imports() -> list[str]:
    offenders = []
    for path in _source_files():
        module = _module_name(path)
        for line, name in _imports_of(path):
            owner = _private_owner(name)
            if owner is None:
                continue
            private, holder = owner
            inside = module == holder or module.startswith(holder + ".")
            if not inside:
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {module} imports {private}")
    return offenders


def test_no_package_imports_another_packages_private_module() -> None:
    offenders = _private_imports()
    assert not offenders, "private modules imported across packages:\n" + "\n".join(offenders)


def test_the_private_import_check_finds_a_crossing() -> None:
    tree = ast.parse("from datacompact.store._hidden import thing\nfrom ._mine import x\n")
    names = [name for _line, name in _imported(tree, "datacompact.catalog.resources", False)]
    assert names == ["datacompact.store._hidden.thing", "datacompact.catalog._mine.x"]
    assert _private_owner(names[0]) == ("datacompact.store._hidden", "datacompact.store")
    assert _private_owner(names[1]) == ("datacompact.catalog._mine", "datacompact.catalog")


def test_the_layer_contract_is_kept(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The use case, not the command-line entry point: that one reconfigures
    # logging for the whole process, which silences every logger created before.
    configuration.configure()
    monkeypatch.setattr(sys, "path", [str(SRC), *sys.path])
    kept = use_cases.lint_imports(
        config_filename=str(ROOT / "pyproject.toml"),
        cache_dir=None,
        is_debug_mode=True,
        no_logo=True,
    )
    assert kept, capsys.readouterr().out


def test_every_top_level_module_has_a_layer() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = config["tool"]["importlinter"]["contracts"]
    named = {
        name.strip().strip("()")
        for layer in contract["layers"]
        for name in layer.replace(":", "|").split("|")
    }
    present = {
        path.stem if path.is_file() else path.name
        for path in PACKAGE.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").is_file()
    }
    assert present == named


@pytest.mark.parametrize(
    "package",
    sorted(_module_name(path) for path in PACKAGE.rglob("__init__.py") if path.parent != PACKAGE),
)
def test_every_package_states_its_public_names(package: str) -> None:
    module = importlib.import_module(package)
    names = module.__dict__.get("__all__")
    assert names, f"{package} has no __all__"
    missing = [name for name in names if getattr(module, name, None) is None]
    assert not missing, f"{package}.__all__ names what it does not have: {missing}"
