"""bounce events, their raw mail, and the bounce mailbox's last poll

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bounce_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedup_key", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("diagnostic", sa.Text(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("send_id", sa.Integer(), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("matched_by", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"], ["subscriber.id"],
            name=op.f("fk_bounce_event_subscriber_id_subscriber"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["send_id"], ["send.id"], name=op.f("fk_bounce_event_send_id_send"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["delivery.id"], name=op.f("fk_bounce_event_delivery_id_delivery"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bounce_event")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_bounce_event_dedup_key")),
    )
    with op.batch_alter_table("bounce_event") as batch_op:
        batch_op.create_index(
            "ix_bounce_event_subscriber_received", ["subscriber_id", "received_at"], unique=False
        )
        batch_op.create_index("ix_bounce_event_send_kind", ["send_id", "kind"], unique=False)
    op.create_table(
        "bounce_raw",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["bounce_event.id"], name=op.f("fk_bounce_raw_event_id_bounce_event"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_bounce_raw")),
    )
    with op.batch_alter_table("bounce_raw") as batch_op:
        batch_op.create_index(batch_op.f("ix_bounce_raw_received_at"), ["received_at"], unique=False)
    op.create_table(
        "bounce_mailbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=400), nullable=False),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("last_fetched", sa.Integer(), nullable=False),
        sa.Column("last_kept", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bounce_mailbox")),
        sa.UniqueConstraint("name", name=op.f("uq_bounce_mailbox_name")),
    )


def downgrade() -> None:
    op.drop_table("bounce_mailbox")
    with op.batch_alter_table("bounce_raw") as batch_op:
        batch_op.drop_index(batch_op.f("ix_bounce_raw_received_at"))
    op.drop_table("bounce_raw")
    with op.batch_alter_table("bounce_event") as batch_op:
        batch_op.drop_index("ix_bounce_event_send_kind")
        batch_op.drop_index("ix_bounce_event_subscriber_received")
    op.drop_table("bounce_event")
