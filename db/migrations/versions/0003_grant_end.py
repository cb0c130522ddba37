"""kinds of grant, refund clauses, the compte rendu financier, conditional instalments

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 16:20:00

Grants stored before this revision were all closed on the Innosprint clause (what was not
redistributed is refunded; `unspent: keep` kept everything): they become redistribution
funds with the clause `non_redistribue` (or `aucun`), no compte rendu financier awaited,
so that they end exactly as they would have.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.types

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), nullable=False, server_default='redistribution'))
        batch_op.add_column(sa.Column('refund_clause', sa.String(length=16), nullable=False,
                                      server_default='non_redistribue'))
        batch_op.add_column(sa.Column('financial_report_owed', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('exercise_ends_on', sa.Date(), nullable=True))
    op.execute("UPDATE grants SET refund_clause = CASE WHEN unspent = 'keep' THEN 'aucun' ELSE 'non_redistribue' END")
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.alter_column('kind', server_default=None)
        batch_op.alter_column('refund_clause', server_default=None)
        batch_op.alter_column('financial_report_owed', server_default=None)
        batch_op.drop_column('unspent')

    with op.batch_alter_table('instalments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('condition', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('condition_number', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('condition_days', sa.Integer(), nullable=True))

    op.create_table('financial_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('charges_budgeted', db.types.Money(), nullable=False),
    sa.Column('charges_actual', db.types.Money(), nullable=False),
    sa.Column('products_budgeted', db.types.Money(), nullable=False),
    sa.Column('products_actual', db.types.Money(), nullable=False),
    sa.Column('checked_on', sa.Date(), nullable=True),
    sa.Column('approved', sa.Boolean(), nullable=True),
    sa.Column('eligible_spending', db.types.Money(), nullable=True),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_financial_reports_grant_id_grants'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_financial_reports')),
    sa.UniqueConstraint('grant_id', 'number', name=op.f('uq_financial_reports_grant_id_number'))
    )
    with op.batch_alter_table('financial_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_financial_reports_grant_id'), ['grant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('financial_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_financial_reports_grant_id'))
    op.drop_table('financial_reports')

    with op.batch_alter_table('instalments', schema=None) as batch_op:
        batch_op.drop_column('condition_days')
        batch_op.drop_column('condition_number')
        batch_op.drop_column('condition')
    # A cancelled instalment did not exist before: it was still scheduled.
    op.execute("UPDATE instalments SET status = 'scheduled' WHERE status = 'cancelled'")

    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unspent', sa.String(length=8), nullable=False, server_default='refund'))
    op.execute("UPDATE grants SET unspent = CASE WHEN refund_clause = 'aucun' THEN 'keep' ELSE 'refund' END")
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.alter_column('unspent', server_default=None)
        batch_op.drop_column('exercise_ends_on')
        batch_op.drop_column('financial_report_owed')
        batch_op.drop_column('kind')
        batch_op.drop_column('refund_clause')
