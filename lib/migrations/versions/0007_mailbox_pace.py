"""per-mailbox pacing shared by every worker: the next slot, and the recipients of the last day

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from lib.models import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mailbox_pace",
        sa.Column("mailbox", sa.String(length=254), nullable=False),
        sa.Column("next_slot", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("mailbox", name=op.f("pk_mailbox_pace")),
    )
    op.create_table(
        "mailbox_use",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(length=254), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailbox_use")),
    )
    op.create_index("ix_mailbox_use_mailbox_at", "mailbox_use", ["mailbox", "at"])


def downgrade() -> None:
    op.drop_index("ix_mailbox_use_mailbox_at", table_name="mailbox_use")
    op.drop_table("mailbox_use")
    op.drop_table("mailbox_pace")
