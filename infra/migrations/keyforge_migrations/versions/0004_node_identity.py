"""Node identity: the hash of each node's token.

The node secret is shared by every volunteer, so it proves membership only;
the first registration of a node id claims it and gets a token, of which the
hive keeps only the SHA-256 (the token has 256 bits of entropy, so a fast
hash is enough). Kept in Postgres, so a token outlives secret rotations and
Valkey data losses. NULL: a node registered before identities existed; its
next registration claims it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CONTRACT: dict[str, str] = {}


def upgrade() -> None:
    op.execute("ALTER TABLE nodes ADD COLUMN token_hash bytea")
    op.execute("CREATE UNIQUE INDEX nodes_token_hash ON nodes (token_hash)")


def downgrade() -> None:
    op.execute("DROP INDEX nodes_token_hash")
    op.execute("ALTER TABLE nodes DROP COLUMN token_hash")
