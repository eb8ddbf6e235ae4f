"""The client products import no server package: they speak to the fleet over its API."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ("services/cli", "services/node", "services/swarm")
SERVERS = {"keyforge_hive", "keyforge_assets", "keyforge_assetmgr"}


def imported_modules(source: str) -> set[str]:
    """Every module an ``import`` or ``from ... import`` names, at any depth of the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def server_imports(source: str) -> set[str]:
    return {name for name in imported_modules(source) if name.split(".")[0] in SERVERS}


@pytest.mark.parametrize("package", CLIENTS)
def test_no_client_module_imports_a_server_package(package: str) -> None:
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules, f"no modules under {package}"
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in modules
        if (found := server_imports(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_the_walk_sees_imports_inside_functions() -> None:
    source = "def gc():\n    from keyforge_hive.kv.gc import collect_garbage\n"
    assert server_imports(source) == {"keyforge_hive.kv.gc"}
    assert server_imports("import keyforge_assets.app as a\n") == {"keyforge_assets.app"}
    assert server_imports("from keyforge_shared.protocol import headers\n") == set()
