"""the sweep reads reminders by due date: each obligation's placing day replaces its next reminder day

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 23:30:00

`obligations.remind_on` (the next reminder day of each open obligation) cost the daily
sweep one write per reminder queued: about 8,700 rows a day at 100,000 grants, each a new
row version in every index of the table. A day now reads its reminders by due date (the
levels that fall on it) and, by `placed_on`, the obligations created or re-dated since the
last day swept. Existing rows the old design had not placed yet (remind_on NULL), or whose
next level was already reached, are given the last day swept, so that the next sweep
reads them at every level they reached; the others are NULL: the sweeps know them.

`ix_events_grant_id` repeats the first column of the unique key (grant_id, seq), which
serves the same lookups: one index fewer to write for every event journalled.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

OPEN = "status IN ('pending', 'overdue')"


def upgrade() -> None:
    with op.batch_alter_table('obligations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('placed_on', sa.Date(), nullable=True))
    op.execute("""
        UPDATE obligations SET placed_on = (SELECT max(business_date) FROM sweep_runs)
        WHERE remind_on IS NULL OR remind_on <= (SELECT max(business_date) FROM sweep_runs)
    """)
    op.drop_index('ix_obligations_remind_on', table_name='obligations')
    with op.batch_alter_table('obligations', schema=None) as batch_op:
        batch_op.drop_column('remind_on')
    op.create_index('ix_obligations_placed_on', 'obligations', ['placed_on'], unique=False,
                    postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
    op.drop_index('ix_events_grant_id', table_name='events')


def downgrade() -> None:
    op.create_index('ix_events_grant_id', 'events', ['grant_id'], unique=False)
    # Every open obligation unplaced again: the old sweep places each on its next level.
    op.drop_index('ix_obligations_placed_on', table_name='obligations')
    with op.batch_alter_table('obligations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('remind_on', sa.Date(), nullable=True))
        batch_op.drop_column('placed_on')
    op.create_index('ix_obligations_remind_on', 'obligations', ['remind_on', 'due_on'], unique=False,
                    postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
