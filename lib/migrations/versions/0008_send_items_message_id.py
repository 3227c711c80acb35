"""send items found by Message-ID, as a bounce quotes it

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_send_items_message_id", "send_items", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_send_items_message_id", table_name="send_items")
