"""send items: partial indexes of the claimable items, so a claim costs the same at any size

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLAIMABLE = sa.text("status = 'pending' AND claimed_by IS NULL")


def upgrade() -> None:
    for name, columns in (
        ("ix_send_items_claimable", ["id"]),
        ("ix_send_items_claimable_run", ["run_id", "id"]),
    ):
        op.create_index(
            name, "send_items", columns, sqlite_where=CLAIMABLE, postgresql_where=CLAIMABLE
        )


def downgrade() -> None:
    op.drop_index("ix_send_items_claimable_run", table_name="send_items")
    op.drop_index("ix_send_items_claimable", table_name="send_items")
