"""bank-detail changes wait for a second operator or a delay

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 17:00:00

`bank_changes`: a changed IBAN, BIC or holder of an association, with the old and new
values, the address it was announced to, who recorded it, the day it applies by itself,
and who confirmed it. Existing associations keep their details: nothing to migrate.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'bank_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('association_id', sa.Integer(), nullable=False),
        sa.Column('old_iban', sa.String(length=34), nullable=False),
        sa.Column('old_bic', sa.String(length=11), nullable=False),
        sa.Column('old_holder', sa.String(length=32), nullable=False),
        sa.Column('new_iban', sa.String(length=34), nullable=False),
        sa.Column('new_bic', sa.String(length=11), nullable=False),
        sa.Column('new_holder', sa.String(length=32), nullable=False),
        sa.Column('notified_email', sa.String(length=255), nullable=False),
        sa.Column('requested_on', sa.Date(), nullable=False),
        sa.Column('requested_by', sa.String(length=64), nullable=False),
        sa.Column('applies_on', sa.Date(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('confirmed_by', sa.String(length=64), nullable=True),
        sa.Column('applied_on', sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(['association_id'], ['associations.id'],
                                name=op.f('fk_bank_changes_association_id_associations'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_changes')),
    )
    with op.batch_alter_table('bank_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bank_changes_association_id'), ['association_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bank_changes_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('bank_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bank_changes_status'))
        batch_op.drop_index(batch_op.f('ix_bank_changes_association_id'))
    op.drop_table('bank_changes')
