"""send runs: who sends the log email, so another worker can take it over

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lib.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("send_runs") as batch_op:
        batch_op.add_column(sa.Column("log_claimed_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("log_claimed_at", lib.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("send_runs") as batch_op:
        batch_op.drop_column("log_claimed_at")
        batch_op.drop_column("log_claimed_by")
