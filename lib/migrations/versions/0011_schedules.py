"""schedules (Programados) and their occurrences; runs say which schedule made them and why
they left customers out

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from lib.models import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_code", sa.String(length=10), nullable=False),
        sa.Column("customers", sa.Text(), nullable=False),
        sa.Column("cutoff_rule", sa.String(length=20), nullable=False),
        sa.Column("cutoff_day", sa.Integer(), nullable=True),
        sa.Column("skip_zero_balance", sa.Boolean(), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("day_of_month", sa.Integer(), nullable=True),
        sa.Column("weekday", sa.Integer(), nullable=True),
        sa.Column("once_on", sa.Date(), nullable=True),
        sa.Column("at_time", sa.Time(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("next_run_at", UTCDateTime(), nullable=True),
        sa.Column("owner", sa.String(length=80), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=80), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_code"],
            ["companies.code"],
            name=op.f("fk_schedules_company_code_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
    )
    op.create_index("ix_schedules_due", "schedules", ["status", "next_run_at"])
    op.create_table(
        "schedule_occurrences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_schedule_occurrences_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["send_runs.id"],
            name=op.f("fk_schedule_occurrences_run_id_send_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_occurrences")),
        sa.UniqueConstraint("schedule_id", "due_at", name="uq_schedule_occurrences_due"),
    )
    with op.batch_alter_table("send_runs") as batch:
        batch.add_column(sa.Column("schedule_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("note", sa.Text(), nullable=False, server_default=""))
        batch.alter_column("customer_filter", type_=sa.Text(), existing_type=sa.String(length=200))
        batch.create_foreign_key(
            op.f("fk_send_runs_schedule_id_schedules"),
            "schedules",
            ["schedule_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("send_runs") as batch:
        batch.drop_constraint(op.f("fk_send_runs_schedule_id_schedules"), type_="foreignkey")
        batch.alter_column("customer_filter", type_=sa.String(length=200), existing_type=sa.Text())
        batch.drop_column("note")
        batch.drop_column("schedule_id")
    op.drop_table("schedule_occurrences")
    op.drop_index("ix_schedules_due", table_name="schedules")
    op.drop_table("schedules")
