"""open-items imports that can be undone: the last import per sociedad and the items it
replaced

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from lib.models import Money, UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "open_item_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_code", sa.String(length=10), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("replaced", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_code"],
            ["companies.code"],
            name=op.f("fk_open_item_imports_company_code_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open_item_imports")),
        sa.UniqueConstraint("company_code", name=op.f("uq_open_item_imports_company_code")),
    )
    op.create_table(
        "replaced_open_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("company_code", sa.String(length=10), nullable=False),
        sa.Column("customer_no", sa.String(length=20), nullable=False),
        sa.Column("doc_no", sa.String(length=40), nullable=False),
        sa.Column("doc_type", sa.String(length=40), nullable=False),
        sa.Column("doc_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("open_amount", Money(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["open_item_imports.id"],
            name=op.f("fk_replaced_open_items_import_id_open_item_imports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replaced_open_items")),
    )
    op.create_index(op.f("ix_replaced_open_items_import_id"), "replaced_open_items", ["import_id"])


def downgrade() -> None:
    op.drop_table("replaced_open_items")
    op.drop_table("open_item_imports")
