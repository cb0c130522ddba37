"""outputs: authority SIRET, keyed journal, raw sent mails

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 16:20:00

- authorities.siret: the SCDL export names the authority by its SIRET (idAttribuant);
  nullable, the export refuses an authority without one.
- events.alg: the hash of each event; the events already written keep "sha256" (a plain
  hash, as before) and stay verifiable, new ones are "hmac-sha256" (keyed).
- messages.raw / raw_sha256: the exact bytes of a message when it was sent, for audit bundles.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('authorities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('siret', sa.String(length=14), nullable=True))
    # The server default only fills the rows already there: every writer names its algorithm.
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('alg', sa.String(length=16), nullable=False, server_default='sha256'))
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.alter_column('alg', server_default=None, existing_type=sa.String(length=16),
                              existing_nullable=False)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('raw_sha256', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('raw_sha256')
        batch_op.drop_column('raw')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('alg')
    with op.batch_alter_table('authorities', schema=None) as batch_op:
        batch_op.drop_column('siret')
