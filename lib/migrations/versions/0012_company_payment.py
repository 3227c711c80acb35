"""a sociedad's payment details (bank, account, CLABE, which reference the customer quotes) and
the address the customers' replies go to

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("companies") as batch:
        batch.add_column(
            sa.Column("reply_to", sa.String(length=254), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("bank", sa.String(length=100), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("account", sa.String(length=40), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("clabe", sa.String(length=18), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column(
                "payment_reference",
                sa.String(length=20),
                nullable=False,
                server_default="customer_no",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("companies") as batch:
        batch.drop_column("payment_reference")
        batch.drop_column("clabe")
        batch.drop_column("account")
        batch.drop_column("bank")
        batch.drop_column("reply_to")
