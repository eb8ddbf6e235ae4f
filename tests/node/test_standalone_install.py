"""A volunteer installs the worker node alone: it runs, and brings none of the server stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER_STACK = {"fastapi", "asyncpg", "alembic", "uvicorn", "watchfiles", "redis", "valkey"}
# Every module of the node, imported in the node-only venv: a module that needs a
# package the node's pyproject does not name fails here, not on a volunteer's machine.
IMPORT_ALL = """
import importlib, pkgutil, keyforge_node
for info in pkgutil.walk_packages(keyforge_node.__path__, "keyforge_node."):
    if info.name != "keyforge_node.__main__":
        importlib.import_module(info.name)
print("imported")
"""


def run(*args: str | Path, timeout: float = 120) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_node_installs_alone_without_the_server_stack(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    pip = (python, "-m", "pip", "--disable-pip-version-check")
    run(*pip, "install", "--quiet", ROOT / "services" / "node", timeout=600)
    assert "--state-dir" in run(venv / "bin" / "keyforge-node", "--help")
    assert run(python, "-c", IMPORT_ALL).strip() == "imported"
    installed = {
        line.split()[0].lower() for line in run(*pip, "list").splitlines()[2:] if line.strip()
    }
    assert "keyforge-node" in installed
    assert not installed & SERVER_STACK, installed & SERVER_STACK
