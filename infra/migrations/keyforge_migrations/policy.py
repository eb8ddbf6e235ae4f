"""Expand/contract policy: a migration may drop a table or column only with a marker.

The marker is the migration's module-level ``CONTRACT`` mapping, from each
dropped ``table`` or ``table.column`` to the release that stopped using it.
Only ``upgrade()`` is inspected; dropping in ``downgrade()`` is what it is for.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

_SQL_DROP_TABLE = re.compile(r"\bDROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?([\w.\"]+)", re.I)
_SQL_DROP_COLUMN = re.compile(
    r"\bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?([\w.\"]+)\s+"
    r"(?:[^;]*?,\s*)?DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?(?!CONSTRAINT\b)([\w\"]+)",
    re.I,
)


def _strings_in(node: ast.AST, constants: dict[str, str]) -> list[str]:
    found: list[str] = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            found.append(sub.value)
        elif isinstance(sub, ast.Name) and sub.id in constants:
            found.append(constants[sub.id])
    return found


def dropped_objects(source: str) -> set[str]:
    """Tables and columns that ``upgrade()`` in this migration source drops."""
    tree = ast.parse(source)
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    upgrade = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"), None
    )
    if upgrade is None:
        return set()
    dropped: set[str] = set()
    for call in (n for n in ast.walk(upgrade) if isinstance(n, ast.Call)):
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        args = [
            a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
        ]
        if name == "drop_table" and args:
            dropped.add(args[0])
        elif name == "drop_column" and len(args) >= 2:
            dropped.add(f"{args[0]}.{args[1]}")
    for text in _strings_in(upgrade, constants):
        dropped.update(m.group(1).strip('"') for m in _SQL_DROP_TABLE.finditer(text))
        dropped.update(
            f"{m.group(1).strip(chr(34))}.{m.group(2).strip(chr(34))}"
            for m in _SQL_DROP_COLUMN.finditer(text)
        )
    return dropped


def declared_contract(source: str) -> dict[str, str]:
    tree = ast.parse(source)
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else ([node.target] if isinstance(node, ast.AnnAssign) else [])
        )
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if any(isinstance(t, ast.Name) and t.id == "CONTRACT" for t in targets) and value:
            literal = ast.literal_eval(value)
            if isinstance(literal, dict):
                return {str(k): str(v) for k, v in literal.items()}
    return {}


def unmarked_drops(source: str) -> set[str]:
    """Dropped objects that the migration does not declare in ``CONTRACT``."""
    contract = declared_contract(source)
    return {obj for obj in dropped_objects(source) if not contract.get(obj)}


def check_migrations(versions_dir: Path) -> dict[str, set[str]]:
    """Every migration file in ``versions_dir`` with the drops it fails to declare."""
    problems: dict[str, set[str]] = {}
    for path in sorted(versions_dir.glob("*.py")):
        missing = unmarked_drops(path.read_text(encoding="utf-8"))
        if missing:
            problems[path.name] = missing
    return problems
