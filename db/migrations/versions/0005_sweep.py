"""the sweep visits only what is due: each open obligation's next reminder day

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 16:10:00

`obligations.remind_on`: the day the daily sweep next has to look at an obligation's
reminders (the trigger day of its next level), NULL for an obligation the sweep has not
placed on its ladder yet. Existing rows start NULL: the first sweep after the upgrade
places every open obligation whose first level is reached (the reminders already queued
keep it from queueing again), the others when theirs is. Two partial indexes bound the
sweep's reads: open obligations by that day (then by due date, for those not placed yet),
and active grants by their end.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

OPEN = "status IN ('pending', 'overdue')"
ACTIVE = "stage = 'active'"


def upgrade() -> None:
    with op.batch_alter_table('obligations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('remind_on', sa.Date(), nullable=True))
    op.create_index('ix_obligations_remind_on', 'obligations', ['remind_on', 'due_on'], unique=False,
                    postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
    op.create_index('ix_grants_active_ends_on', 'grants', ['ends_on'], unique=False,
                    postgresql_where=sa.text(ACTIVE), sqlite_where=sa.text(ACTIVE))


def downgrade() -> None:
    op.drop_index('ix_grants_active_ends_on', table_name='grants')
    op.drop_index('ix_obligations_remind_on', table_name='obligations')
    with op.batch_alter_table('obligations', schema=None) as batch_op:
        batch_op.drop_column('remind_on')
