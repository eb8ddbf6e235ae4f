"""Jobs remember their scoring model; nodes get contribution counters; records get an index.

* ``jobs.model_id`` and ``jobs.model``: the SHA-256 of everything that decides
  a score (geometry, alphabet, weights after defaults, the corpus and cost
  matrix hashes at creation) and its summary, so leaderboards group only
  comparable scores and a later asset edit starts a new board. Jobs created
  before this revision have none and stay off the boards.
* ``node_contributions``: results and records per node, counted in the
  transaction that stores a result, and work units (heartbeat ``ips``
  integrated over live time) added in batches from Valkey.
* ``results_records_idx``: a job's history is its records in time order.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from keyforge_migrations.sql import execute_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CONTRACT: dict[str, str] = {}

UPGRADE = """
ALTER TABLE jobs ADD COLUMN model_id text CHECK (model_id ~ '^[0-9a-f]{64}$');
ALTER TABLE jobs ADD COLUMN model jsonb;
CREATE INDEX jobs_model_id_idx ON jobs (model_id) WHERE model_id IS NOT NULL;
CREATE INDEX results_records_idx ON results (job_id, created_at) WHERE is_record;

CREATE TABLE node_contributions (
    node_id    text PRIMARY KEY,
    results    bigint NOT NULL DEFAULT 0 CHECK (results >= 0),
    records    bigint NOT NULL DEFAULT 0 CHECK (records >= 0),
    work_units double precision NOT NULL DEFAULT 0 CHECK (work_units >= 0),
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now()
);
"""

DOWNGRADE = """
DROP TABLE node_contributions;
DROP INDEX results_records_idx;
DROP INDEX jobs_model_id_idx;
ALTER TABLE jobs DROP COLUMN model;
ALTER TABLE jobs DROP COLUMN model_id;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
