"""a sociedad's sender identity (From, CC, BCC), its attachments beyond the statement, its
email templates per language (moved from the two columns that served every language), the
CFDI UUID of open items, and the note of what a sent email lacked

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LANGUAGES = ("es", "en")
OPEN_ITEM_TABLES = ("open_items", "replaced_open_items")


def upgrade() -> None:
    templates = op.create_table(
        "company_templates",
        sa.Column("company_code", sa.String(length=10), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False, server_default=""),
        sa.Column("text_body", sa.Text(), nullable=False, server_default=""),
        sa.Column("html_body", sa.Text(), nullable=False, server_default=""),
        sa.ForeignKeyConstraint(
            ["company_code"],
            ["companies.code"],
            name=op.f("fk_company_templates_company_code_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("company_code", "language", name=op.f("pk_company_templates")),
    )
    _copy_old_templates(templates)
    with op.batch_alter_table("companies") as batch:
        batch.drop_column("email_body_template")
        batch.drop_column("email_subject_template")
        batch.add_column(
            sa.Column("sender_name", sa.String(length=100), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("sender_email", sa.String(length=254), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("cc", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("bcc", sa.Text(), nullable=False, server_default=""))
        for name in ("attach_open_items", "attach_invoices"):
            batch.add_column(
                sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.false())
            )
    for table in OPEN_ITEM_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("cfdi_uuid", sa.String(length=36), nullable=False, server_default="")
            )
    with op.batch_alter_table("send_items") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=False, server_default=""))


def _copy_old_templates(templates: sa.Table) -> None:
    """The old subject and body served customers of every language: each becomes the
    sociedad's template in both."""
    connection = op.get_bind()
    companies = sa.table(
        "companies",
        sa.column("code", sa.String),
        sa.column("email_subject_template", sa.Text),
        sa.column("email_body_template", sa.Text),
    )
    rows = connection.execute(
        sa.select(
            companies.c.code, companies.c.email_subject_template, companies.c.email_body_template
        ).where(
            sa.or_(
                sa.func.trim(sa.func.coalesce(companies.c.email_subject_template, "")) != "",
                sa.func.trim(sa.func.coalesce(companies.c.email_body_template, "")) != "",
            )
        )
    ).all()
    values = [
        {
            "company_code": code,
            "language": language,
            "subject": subject or "",
            "text_body": body or "",
            "html_body": "",
        }
        for code, subject, body in rows
        for language in LANGUAGES
    ]
    if values:
        op.bulk_insert(templates, values)


def downgrade() -> None:
    with op.batch_alter_table("send_items") as batch:
        batch.drop_column("note")
    for table in OPEN_ITEM_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("cfdi_uuid")
    with op.batch_alter_table("companies") as batch:
        for name in ("attach_invoices", "attach_open_items", "bcc", "cc"):
            batch.drop_column(name)
        batch.drop_column("sender_email")
        batch.drop_column("sender_name")
        batch.add_column(sa.Column("email_subject_template", sa.Text(), nullable=True))
        batch.add_column(sa.Column("email_body_template", sa.Text(), nullable=True))
    _restore_old_templates()
    op.drop_table("company_templates")


def _restore_old_templates() -> None:
    """Back to one subject and body for every language: the Spanish ones."""
    companies = sa.table(
        "companies",
        sa.column("code", sa.String),
        sa.column("email_subject_template", sa.Text),
        sa.column("email_body_template", sa.Text),
    )
    templates = sa.table(
        "company_templates",
        sa.column("company_code", sa.String),
        sa.column("language", sa.String),
        sa.column("subject", sa.Text),
        sa.column("text_body", sa.Text),
    )

    def spanish(column: sa.ColumnClause[str]) -> sa.ScalarSelect[str]:
        return (
            sa.select(sa.func.nullif(column, ""))
            .where(templates.c.company_code == companies.c.code, templates.c.language == "es")
            .scalar_subquery()
        )

    op.get_bind().execute(
        sa.update(companies).values(
            email_subject_template=spanish(templates.c.subject),
            email_body_template=spanish(templates.c.text_body),
        )
    )
