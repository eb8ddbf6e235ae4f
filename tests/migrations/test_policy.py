from __future__ import annotations

from pathlib import Path

import pytest

from keyforge_migrations import scripts_dir
from keyforge_migrations.policy import check_migrations, dropped_objects, unmarked_drops

TEMPLATE = '''
from alembic import op

CONTRACT: dict[str, str] = {contract}
SQL = """{sql}"""


def upgrade() -> None:
    {body}


def downgrade() -> None:
    op.drop_table("everything")
'''


def migration(body: str = "pass", sql: str = "", contract: str = "{}") -> str:
    return TEMPLATE.format(body=body, sql=sql, contract=contract)


def test_the_project_migrations_follow_expand_contract() -> None:
    assert check_migrations(scripts_dir() / "versions") == {}


@pytest.mark.parametrize(
    ("body", "sql", "dropped"),
    [
        ('op.drop_table("results")', "", {"results"}),
        ('op.drop_column("nodes", "labels")', "", {"nodes.labels"}),
        ("op.execute(SQL)", "DROP TABLE IF EXISTS kv", {"kv"}),
        ("op.execute(SQL)", "ALTER TABLE nodes DROP COLUMN arch", {"nodes.arch"}),
        ("op.execute(SQL)", "alter table jobs drop keyboard;", {"jobs.keyboard"}),
        ('op.execute("DROP TABLE audit_log")', "", {"audit_log"}),
    ],
)
def test_drops_without_a_marker_are_refused(body: str, sql: str, dropped: set[str]) -> None:
    source = migration(body=body, sql=sql)
    assert dropped_objects(source) == dropped
    assert unmarked_drops(source) == dropped


def test_a_declared_contract_allows_the_drop() -> None:
    source = migration(body='op.drop_column("nodes", "labels")', contract='{"nodes.labels": "0.4"}')
    assert unmarked_drops(source) == set()


def test_a_marker_for_another_object_does_not_count() -> None:
    source = migration(body='op.drop_column("nodes", "labels")', contract='{"nodes.arch": "0.4"}')
    assert unmarked_drops(source) == {"nodes.labels"}


def test_adding_and_dropping_constraints_is_not_a_contract_step() -> None:
    source = migration(
        body="op.execute(SQL)",
        sql="ALTER TABLE nodes ADD COLUMN x int; ALTER TABLE nodes DROP CONSTRAINT nodes_x",
    )
    assert unmarked_drops(source) == set()


def test_downgrade_drops_are_ignored() -> None:
    assert unmarked_drops(migration()) == set()


def test_check_reports_the_offending_file(tmp_path: Path) -> None:
    (tmp_path / "0002_ok.py").write_text(migration())
    (tmp_path / "0003_bad.py").write_text(migration(body='op.drop_table("jobs")'))
    assert check_migrations(tmp_path) == {"0003_bad.py": {"jobs"}}
