"""Durable tables of the fleet: nodes, profiles, jobs, results, submissions, settings, kv, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

from keyforge_migrations.sql import execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

CONTRACT: dict[str, str] = {}

UPGRADE = """
CREATE TABLE hardware_profiles (
    cpu_signature        text PRIMARY KEY,
    cpu_model            text NOT NULL,
    arch                 text,
    cores                integer NOT NULL CHECK (cores > 0),
    l2_cache_kb          integer CHECK (l2_cache_kb >= 0),
    verified_ops_per_sec double precision NOT NULL CHECK (verified_ops_per_sec >= 0),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE nodes (
    node_id         text PRIMARY KEY,
    cpu_signature   text NOT NULL,
    cpu_model       text NOT NULL,
    cores           integer NOT NULL CHECK (cores > 0),
    l2_cache_kb     integer CHECK (l2_cache_kb >= 0),
    ops_per_sec     double precision NOT NULL CHECK (ops_per_sec >= 0),
    arch            text,
    ram_total_bytes bigint CHECK (ram_total_bytes >= 0),
    labels          jsonb NOT NULL DEFAULT '{}'::jsonb,
    status          text NOT NULL DEFAULT 'ready'
                    CHECK (status IN ('ready', 'draining', 'down')),
    registered_at   timestamptz NOT NULL DEFAULT now(),
    last_seen       timestamptz
);
CREATE INDEX nodes_cpu_signature_idx ON nodes (cpu_signature);

CREATE TABLE jobs (
    job_id      text PRIMARY KEY CHECK (job_id ~ '^[0-9a-f]{64}$'),
    -- json, not jsonb: the spec round-trips byte for byte as it was submitted.
    spec        json NOT NULL,
    keyboard    text NOT NULL,
    status      text NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'paused', 'done', 'cancelled')),
    best_score  double precision,
    best_layout text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_status_idx ON jobs (status);
CREATE INDEX jobs_keyboard_idx ON jobs (keyboard);

CREATE TABLE results (
    result_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id     text NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    node_id    text NOT NULL,
    layout     text NOT NULL,
    score      double precision NOT NULL,
    lease_id   text,
    is_record  boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (job_id, layout)
);
CREATE INDEX results_job_score_idx ON results (job_id, score);

CREATE TABLE submissions (
    submission_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL CHECK (char_length(name) BETWEEN 2 AND 64),
    layout        text NOT NULL CHECK (char_length(layout) BETWEEN 10 AND 5000),
    author        text NOT NULL DEFAULT '' CHECK (char_length(author) <= 64),
    status        text NOT NULL DEFAULT 'received',
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- One row: the runtime-editable operational limits.
CREATE TABLE settings (
    id         smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    data       jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL
);

-- Versioned namespaced KV; a secret keeps only ciphertext, its nonce and key id.
CREATE TABLE kv (
    kv_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace  text NOT NULL,
    key        text NOT NULL,
    version    integer NOT NULL CHECK (version > 0),
    value      text,
    ciphertext bytea,
    nonce      bytea,
    key_id     text,
    expires_at timestamptz,
    tombstone  boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL,
    UNIQUE (namespace, key, version),
    CHECK (value IS NULL OR ciphertext IS NULL)
);

CREATE TABLE audit_log (
    audit_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    actor    text NOT NULL,
    action   text NOT NULL,
    target   text NOT NULL,
    detail   jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
"""

TABLES = (
    "audit_log",
    "kv",
    "settings",
    "submissions",
    "results",
    "jobs",
    "nodes",
    "hardware_profiles",
)


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TABLE {table}")
