"""Fleet control (seed 003): the dispatch freeze and the layers of node config.

* ``fleet_freeze``: at most one row; present while a freeze is set (an ended
  ``until`` is swept away by the hives). Valkey mirrors it for the lease path.
* ``node_config_layers``: one partial config object per layer: the fleet
  (name ''), a group (a node's ``group`` label) or a node.
* ``node_config_version``: one row whose ``version`` every layer write bumps
  under its row lock, so versions follow commit order; hives compare it to
  know when to reload, nodes to know when to fetch.
* ``job_leases (node_id, expires_at)``: counting a node's live leases for its
  ``max_leases``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from keyforge_migrations.sql import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CONTRACT: dict[str, str] = {}

UPGRADE = """
CREATE TABLE fleet_freeze (
    id     smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    until  timestamptz,
    reason text NOT NULL DEFAULT '',
    set_by text NOT NULL,
    set_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE node_config_layers (
    scope      text NOT NULL CHECK (scope IN ('fleet', 'group', 'node')),
    name       text NOT NULL,
    data       jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL,
    PRIMARY KEY (scope, name),
    CHECK ((scope = 'fleet') = (name = ''))
);

CREATE TABLE node_config_version (
    id      smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    version bigint NOT NULL CHECK (version >= 0)
);
INSERT INTO node_config_version (id, version) VALUES (1, 0);

CREATE INDEX job_leases_node_idx ON job_leases (node_id, expires_at);
"""

DOWNGRADE = """
DROP INDEX job_leases_node_idx;
DROP TABLE node_config_version;
DROP TABLE node_config_layers;
DROP TABLE fleet_freeze;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
