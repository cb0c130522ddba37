"""one index fewer to write on every change of an obligation

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 20:30:00

`ix_obligations_grant_id` repeats the first column of the unique key (grant_id, kind,
number), which serves the same lookups by grant; every status change and every next
reminder day the daily sweep writes (about 11,000 rows a day at 100,000 grants) paid for
it.
"""
from __future__ import annotations

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_obligations_grant_id', table_name='obligations')


def downgrade() -> None:
    op.create_index('ix_obligations_grant_id', 'obligations', ['grant_id'], unique=False)
