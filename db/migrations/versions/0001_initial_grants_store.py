"""initial grants store

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 13:17:17.833304
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.types

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('associations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('siret', sa.String(length=14), nullable=False),
    sa.Column('rna', sa.String(length=10), nullable=True),
    sa.Column('email', sa.String(length=255), nullable=False),
    sa.Column('iban', sa.String(length=34), nullable=False),
    sa.Column('bic', sa.String(length=11), nullable=False),
    sa.Column('holder', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_associations')),
    sa.UniqueConstraint('code', name=op.f('uq_associations_code'))
    )
    op.create_table('authorities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('siren', sa.String(length=9), nullable=False),
    sa.Column('department', sa.String(length=3), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('email', sa.String(length=255), nullable=False),
    sa.Column('iban', sa.String(length=34), nullable=True),
    sa.Column('bic', sa.String(length=11), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authorities')),
    sa.UniqueConstraint('code', name=op.f('uq_authorities_code'))
    )
    op.create_table('sweep_runs',
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('finished_at', db.types.Instant(timezone=True), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('business_date', name=op.f('pk_sweep_runs'))
    )
    op.create_table('grants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('authority_id', sa.Integer(), nullable=False),
    sa.Column('association_id', sa.Integer(), nullable=False),
    sa.Column('object', sa.Text(), nullable=False),
    sa.Column('amount', db.types.Money(), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('convention_required', sa.Boolean(), nullable=False),
    sa.Column('duration_months', sa.Integer(), nullable=False),
    sa.Column('starts_from', sa.String(length=16), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=True),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('reports_every_months', sa.Integer(), nullable=True),
    sa.Column('unspent', sa.String(length=8), nullable=False),
    sa.Column('targets', sa.JSON(), nullable=False),
    sa.Column('dossier', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['association_id'], ['associations.id'], name=op.f('fk_grants_association_id_associations')),
    sa.ForeignKeyConstraint(['authority_id'], ['authorities.id'], name=op.f('fk_grants_authority_id_authorities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grants')),
    sa.UniqueConstraint('reference', name=op.f('uq_grants_reference'))
    )
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grants_association_id'), ['association_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_grants_authority_id'), ['authority_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_grants_stage'), ['stage'], unique=False)

    op.create_table('acts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('act_id', sa.String(length=64), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('published_on', sa.Date(), nullable=True),
    sa.Column('executoire_on', sa.Date(), nullable=True),
    sa.Column('control_restarted_on', sa.Date(), nullable=True),
    sa.Column('control_ends_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_acts_grant_id_grants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_acts')),
    sa.UniqueConstraint('act_id', name=op.f('uq_acts_act_id')),
    sa.UniqueConstraint('grant_id', name=op.f('uq_acts_grant_id'))
    )
    op.create_table('deliberations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('session_on', sa.Date(), nullable=False),
    sa.Column('convened_on', sa.Date(), nullable=True),
    sa.Column('members_in_office', sa.Integer(), nullable=True),
    sa.Column('present', sa.Integer(), nullable=True),
    sa.Column('represented', sa.Integer(), nullable=False),
    sa.Column('votes_for', sa.Integer(), nullable=True),
    sa.Column('votes_against', sa.Integer(), nullable=True),
    sa.Column('abstentions', sa.Integer(), nullable=True),
    sa.Column('not_voting', sa.Integer(), nullable=True),
    sa.Column('president_vote', sa.String(length=8), nullable=True),
    sa.Column('secret', sa.Boolean(), nullable=False),
    sa.Column('urgency', sa.Boolean(), nullable=False),
    sa.Column('reconvened_after', sa.Date(), nullable=True),
    sa.Column('act_number', sa.String(length=15), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('quorum_required', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_deliberations_grant_id_grants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliberations')),
    sa.UniqueConstraint('grant_id', 'session_on', name=op.f('uq_deliberations_grant_id_session_on'))
    )
    with op.batch_alter_table('deliberations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deliberations_grant_id'), ['grant_id'], unique=False)

    op.create_table('disbursements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('beneficiary', sa.String(length=255), nullable=False),
    sa.Column('amount', db.types.Money(), nullable=False),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_disbursements_grant_id_grants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disbursements'))
    )
    with op.batch_alter_table('disbursements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disbursements_grant_id'), ['grant_id'], unique=False)

    op.create_table('evaluations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('at_months', sa.Integer(), nullable=False),
    sa.Column('done_on', sa.Date(), nullable=True),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('results', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_evaluations_grant_id_grants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluations')),
    sa.UniqueConstraint('grant_id', 'name', name=op.f('uq_evaluations_grant_id_name'))
    )
    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evaluations_grant_id'), ['grant_id'], unique=False)

    op.create_table('events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', db.types.Instant(timezone=True), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_events_grant_id_grants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events')),
    sa.UniqueConstraint('grant_id', 'seq', name=op.f('uq_events_grant_id_seq'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_grant_id'), ['grant_id'], unique=False)

    op.create_table('instalments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('amount', db.types.Money(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=35), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('ordered_at', db.types.Instant(timezone=True), nullable=True),
    sa.Column('batch_id', sa.String(length=64), nullable=True),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_instalments_grant_id_grants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instalments')),
    sa.UniqueConstraint('grant_id', 'number', name=op.f('uq_instalments_grant_id_number')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_instalments_idempotency_key'))
    )
    with op.batch_alter_table('instalments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_instalments_grant_id'), ['grant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_instalments_status'), ['status'], unique=False)

    op.create_table('obligations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=255), nullable=False),
    sa.Column('debtor', sa.String(length=16), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('done_on', sa.Date(), nullable=True),
    sa.Column('remind', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_obligations_grant_id_grants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_obligations')),
    sa.UniqueConstraint('grant_id', 'kind', 'number', name=op.f('uq_obligations_grant_id_kind_number'))
    )
    with op.batch_alter_table('obligations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_obligations_grant_id'), ['grant_id'], unique=False)
        batch_op.create_index('ix_obligations_open_due', ['status', 'due_on'], unique=False)

    op.create_table('refunds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('amount', db.types.Money(), nullable=False),
    sa.Column('received', db.types.Money(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('grounds', sa.Text(), nullable=False),
    sa.Column('titre_number', sa.String(length=32), nullable=True),
    sa.Column('issued_on', sa.Date(), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('receipts', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_refunds_grant_id_grants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds')),
    sa.UniqueConstraint('grant_id', name=op.f('uq_refunds_grant_id')),
    sa.UniqueConstraint('titre_number', name=op.f('uq_refunds_titre_number'))
    )
    op.create_table('reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('indicators', sa.JSON(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('answered_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_reports_grant_id_grants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports')),
    sa.UniqueConstraint('grant_id', 'number', name=op.f('uq_reports_grant_id_number'))
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reports_grant_id'), ['grant_id'], unique=False)

    op.create_table('signatures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('party', sa.String(length=16), nullable=False),
    sa.Column('signed_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_signatures_grant_id_grants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signatures')),
    sa.UniqueConstraint('grant_id', 'party', name=op.f('uq_signatures_grant_id_party'))
    )
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signatures_grant_id'), ['grant_id'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('obligation_id', sa.Integer(), nullable=True),
    sa.Column('level', sa.String(length=16), nullable=True),
    sa.Column('level_rank', sa.Integer(), nullable=True),
    sa.Column('dedup_key', sa.String(length=128), nullable=True),
    sa.Column('context', sa.JSON(), nullable=True),
    sa.Column('copy_authority', sa.Boolean(), nullable=False),
    sa.Column('queued_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('sent_at', db.types.Instant(timezone=True), nullable=True),
    sa.Column('recipients', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_messages_grant_id_grants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['obligation_id'], ['obligations.id'], name=op.f('fk_messages_obligation_id_obligations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('dedup_key', name=op.f('uq_messages_dedup_key')),
    sa.UniqueConstraint('obligation_id', 'level', name=op.f('uq_messages_obligation_id_level'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_grant_id'), ['grant_id'], unique=False)
        batch_op.create_index('ix_messages_status_id', ['status', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_status_id')
        batch_op.drop_index(batch_op.f('ix_messages_grant_id'))

    op.drop_table('messages')
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signatures_grant_id'))

    op.drop_table('signatures')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reports_grant_id'))

    op.drop_table('reports')
    op.drop_table('refunds')
    with op.batch_alter_table('obligations', schema=None) as batch_op:
        batch_op.drop_index('ix_obligations_open_due')
        batch_op.drop_index(batch_op.f('ix_obligations_grant_id'))

    op.drop_table('obligations')
    with op.batch_alter_table('instalments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_instalments_status'))
        batch_op.drop_index(batch_op.f('ix_instalments_grant_id'))

    op.drop_table('instalments')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_grant_id'))

    op.drop_table('events')
    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluations_grant_id'))

    op.drop_table('evaluations')
    with op.batch_alter_table('disbursements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disbursements_grant_id'))

    op.drop_table('disbursements')
    with op.batch_alter_table('deliberations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliberations_grant_id'))

    op.drop_table('deliberations')
    op.drop_table('acts')
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grants_stage'))
        batch_op.drop_index(batch_op.f('ix_grants_authority_id'))
        batch_op.drop_index(batch_op.f('ix_grants_association_id'))

    op.drop_table('grants')
    op.drop_table('sweep_runs')
    op.drop_table('authorities')
    op.drop_table('associations')
