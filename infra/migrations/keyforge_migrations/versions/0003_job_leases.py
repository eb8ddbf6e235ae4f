"""Jobs get work slots, their lease attempts (the fencing counter) and a cached best.

* ``jobs.slots``: how many nodes may work on a job at once (one lease per slot).
* ``jobs.keyboard_name``: the definition's ``meta.name``, for listings; the
  ``keyboard`` column holds a fingerprint of the geometry (jobs on one geometry
  share population seeds).
* ``jobs.result_count`` and ``jobs.best_metrics``: kept in the transaction that
  stores a result, so listing jobs never counts or rescores.
* ``job_leases``: one row per leased slot; ``attempt`` only ever grows, in
  Postgres, so fencing survives Valkey losing its in-flight marks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from keyforge_migrations.sql import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CONTRACT: dict[str, str] = {}

UPGRADE = """
ALTER TABLE jobs ADD COLUMN slots integer NOT NULL DEFAULT 8 CHECK (slots BETWEEN 1 AND 256);
ALTER TABLE jobs ADD COLUMN keyboard_name text NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN result_count bigint NOT NULL DEFAULT 0 CHECK (result_count >= 0);
ALTER TABLE jobs ADD COLUMN best_metrics jsonb;
CREATE INDEX jobs_created_at_idx ON jobs (created_at);

CREATE TABLE job_leases (
    job_id      text NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    slot        integer NOT NULL CHECK (slot >= 0),
    attempt     bigint NOT NULL CHECK (attempt > 0),
    lease_token text NOT NULL,
    node_id     text NOT NULL,
    leased_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (job_id, slot)
);
"""

DOWNGRADE = """
DROP TABLE job_leases;
DROP INDEX jobs_created_at_idx;
ALTER TABLE jobs DROP COLUMN best_metrics;
ALTER TABLE jobs DROP COLUMN result_count;
ALTER TABLE jobs DROP COLUMN keyboard_name;
ALTER TABLE jobs DROP COLUMN slots;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
