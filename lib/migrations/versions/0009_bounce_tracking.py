"""bounce tracking: the bounce reader's bookmark per mailbox, bounce marks on catalog
addresses, bounces told to the analyst, and the bounced count of a run

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from lib.models import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "address_bounces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_code", sa.String(length=10), nullable=False),
        sa.Column("customer_no", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["send_runs.id"],
            name=op.f("fk_address_bounces_run_id_send_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address_bounces")),
        sa.UniqueConstraint(
            "company_code", "customer_no", "address", name="uq_address_bounces_key"
        ),
    )
    op.create_table(
        "mailbox_checks",
        sa.Column("mailbox", sa.String(length=300), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=False),
        sa.Column("next_check_at", UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("checked_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("mailbox", name=op.f("pk_mailbox_checks")),
    )
    with op.batch_alter_table("send_addresses") as batch:
        batch.add_column(sa.Column("reported_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("send_runs") as batch:
        batch.add_column(sa.Column("bounced", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("send_runs") as batch:
        batch.drop_column("bounced")
    with op.batch_alter_table("send_addresses") as batch:
        batch.drop_column("reported_at")
    op.drop_table("mailbox_checks")
    op.drop_table("address_bounces")
