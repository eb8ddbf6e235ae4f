"""Nodes keep the operator's drain decision apart from their liveness.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CONTRACT: dict[str, str] = {}


def upgrade() -> None:
    op.execute("ALTER TABLE nodes ADD COLUMN drained boolean NOT NULL DEFAULT false")


def downgrade() -> None:
    op.execute("ALTER TABLE nodes DROP COLUMN drained")
