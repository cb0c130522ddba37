"""multi-year conventions (CPO): the convention's years and each year's vote

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 17:00:00

`grants.years`: how many financial years a convention pluriannuelle d'objectifs runs (NULL
for every grant stored before: they are one-year grants). `convention_years`: one row per
year voted, its amount and the act or avenant that voted it. Nothing to migrate: no grant
stored before this revision is a CPO.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.types

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('years', sa.Integer(), nullable=True))
    op.create_table('convention_years',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('exercise', sa.Integer(), nullable=False),
    sa.Column('amount', db.types.Money(), nullable=False),
    sa.Column('act_id', sa.Integer(), nullable=True),
    sa.Column('amendment_number', sa.Integer(), nullable=True),
    sa.Column('voted_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['act_id'], ['acts.id'], name=op.f('fk_convention_years_act_id_acts')),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_convention_years_grant_id_grants'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_convention_years')),
    sa.UniqueConstraint('grant_id', 'number', name=op.f('uq_convention_years_grant_id_number'))
    )
    with op.batch_alter_table('convention_years', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_convention_years_act_id'), ['act_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_convention_years_grant_id'), ['grant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('convention_years', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_convention_years_grant_id'))
        batch_op.drop_index(batch_op.f('ix_convention_years_act_id'))
    op.drop_table('convention_years')
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.drop_column('years')
