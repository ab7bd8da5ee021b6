"""admin readers and lists: list sender and schedule defaults, CSV import jobs, reader indexes

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

LIST_COLUMNS = (
    sa.Column("sender", sa.String(length=400), nullable=False, server_default=""),
    sa.Column("reply_to", sa.String(length=400), nullable=False, server_default=""),
    sa.Column("timezone", sa.String(length=64), nullable=False, server_default=""),
    sa.Column("send_weekday", sa.Integer(), nullable=True),
    sa.Column("send_time", sa.String(length=5), nullable=False, server_default=""),
)


def upgrade() -> None:
    with op.batch_alter_table("mailing_list") as batch:
        for column in LIST_COLUMNS:
            batch.add_column(column._copy())
    op.create_index("ix_subscriber_status_id", "subscriber", ["status", "id"])
    op.create_index("ix_delivery_subscriber_id", "delivery", ["subscriber_id", "id"])
    op.create_index("ix_subscription_list_id", "subscription", ["list_id", "subscriber_id"])
    # The admin's reader search walks these in order: a prefix of the address or of the
    # name, then the next page from the last row seen. On PostgreSQL they are in the "C"
    # collation, so a prefix is one contiguous range of the index whatever the database's
    # locale; SQLite compares bytes already.
    if op.get_bind().dialect.name == "postgresql":
        op.execute('CREATE INDEX ix_subscriber_email_key_c ON subscriber (email_key COLLATE "C")')
        op.execute('CREATE INDEX ix_subscriber_name_id ON subscriber (name COLLATE "C", id)')
    else:
        op.create_index("ix_subscriber_email_key_c", "subscriber", ["email_key"])
        op.create_index("ix_subscriber_name_id", "subscriber", ["name", "id"])
    op.create_table(
        "import_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("batches_done", sa.Integer(), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("subscribed", sa.Integer(), nullable=False),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["list_id"], ["mailing_list.id"],
            name=op.f("fk_import_job_list_id_mailing_list"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_job")),
    )
    op.create_table(
        "import_error",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["import_job.id"],
            name=op.f("fk_import_error_job_id_import_job"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_error")),
    )
    op.create_index("ix_import_error_job_id", "import_error", ["job_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_import_error_job_id", table_name="import_error")
    op.drop_table("import_error")
    op.drop_table("import_job")
    op.drop_index("ix_subscriber_name_id", table_name="subscriber")
    op.drop_index("ix_subscriber_email_key_c", table_name="subscriber")
    op.drop_index("ix_subscription_list_id", table_name="subscription")
    op.drop_index("ix_delivery_subscriber_id", table_name="delivery")
    op.drop_index("ix_subscriber_status_id", table_name="subscriber")
    with op.batch_alter_table("mailing_list") as batch:
        for column in reversed(LIST_COLUMNS):
            batch.drop_column(column.name)
