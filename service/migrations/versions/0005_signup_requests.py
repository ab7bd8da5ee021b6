"""signup requests: the queue between a signup's answer and its work

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signup_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["mailing_list.id"],
            name=op.f("fk_signup_request_list_id_mailing_list"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signup_request")),
    )
    with op.batch_alter_table("signup_request") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_signup_request_email_key"), ["email_key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("signup_request") as batch_op:
        batch_op.drop_index(batch_op.f("ix_signup_request_email_key"))
    op.drop_table("signup_request")
