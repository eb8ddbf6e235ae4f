"""Running plain SQL scripts from migrations.

The asyncpg driver prepares every statement, and a prepared statement holds
one command only, so a script is split into its statements first. Scripts
here are our own DDL: statements end with ``;`` at the end of a line, and no
function bodies or string literals span a ``;`` line end.
"""

from __future__ import annotations

from alembic import op


def statements(script: str) -> list[str]:
    parts, current = [], []
    for line in script.splitlines():
        current.append(line)
        if line.rstrip().endswith(";"):
            parts.append("\n".join(current).strip())
            current = []
    tail = "\n".join(current).strip()
    if tail and not all(ln.strip().startswith("--") for ln in tail.splitlines() if ln.strip()):
        parts.append(tail)
    return parts


def execute_script(script: str) -> None:
    for statement in statements(script):
        op.execute(statement)
