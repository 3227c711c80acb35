"""customers.search_name: the folded name, for fast accent-insensitive search

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from lib import normalize

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

customers = sa.table(
    "customers",
    sa.column("company_code", sa.String),
    sa.column("customer_no", sa.String),
    sa.column("name", sa.String),
    sa.column("search_name", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch_op:
        batch_op.add_column(
            sa.Column("search_name", sa.String(length=200), nullable=False, server_default="")
        )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(customers.c.company_code, customers.c.customer_no, customers.c.name)
    ).all()
    if rows:
        connection.execute(
            customers.update()
            .where(customers.c.company_code == sa.bindparam("c"))
            .where(customers.c.customer_no == sa.bindparam("n"))
            .values(search_name=sa.bindparam("s")),
            [{"c": c, "n": n, "s": normalize.fold(name)} for c, n, name in rows],
        )


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch_op:
        batch_op.drop_column("search_name")
