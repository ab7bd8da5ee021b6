"""compiled issue render store

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compiled_issue",
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("issue_date", sa.String(length=10), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("preheader", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("tokens", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("content_hash", name=op.f("pk_compiled_issue")),
    )
    op.create_index(op.f("ix_compiled_issue_slug"), "compiled_issue", ["slug"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_compiled_issue_slug"), table_name="compiled_issue")
    op.drop_table("compiled_issue")
