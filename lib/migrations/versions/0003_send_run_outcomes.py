"""send runs: run date, retries, skipped/uncertain counts, log error; item finish time

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("send_runs") as batch_op:
        batch_op.add_column(
            sa.Column("run_date", sa.Date(), nullable=False, server_default="2000-01-01")
        )
        batch_op.add_column(sa.Column("retry_of", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("skipped", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("uncertain", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("log_error", sa.Text(), nullable=False, server_default=""))
        batch_op.create_foreign_key(
            batch_op.f("fk_send_runs_retry_of_send_runs"),
            "send_runs",
            ["retry_of"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("send_items") as batch_op:
        batch_op.add_column(sa.Column("finished_at", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_send_items_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("send_items") as batch_op:
        batch_op.drop_index("ix_send_items_status")
        batch_op.drop_column("finished_at")
    with op.batch_alter_table("send_runs") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_send_runs_retry_of_send_runs"), type_="foreignkey")
        batch_op.drop_column("log_error")
        batch_op.drop_column("uncertain")
        batch_op.drop_column("skipped")
        batch_op.drop_column("retry_of")
        batch_op.drop_column("run_date")
