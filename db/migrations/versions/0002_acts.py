"""acts of their own: one act (sitting, vote, transmission) for many grants

Revision ID: 0002
Revises: 0001

Each existing grant with a deliberation or an acknowledged act gets an act of its own
(reference = the grant's reference, body "conseil"); its deliberation rows and its
@CTES acknowledgement move to that act. The downgrade gives each grant back the rows of
its act; an act sent on paper, or the second grant of a shared act, cannot be held by the
old schema (one @CTES identifier, one grant): their acknowledgement is dropped.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_RECEIPT = ("received_on", "published_on", "executoire_on", "control_restarted_on", "control_ends_on")


def _rows(sql: str) -> list[dict[str, Any]]:
    return [dict(row) for row in op.get_bind().execute(sa.text(sql)).mappings()]


def _new_acts_table() -> None:
    op.create_table('acts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('authority_id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('body', sa.String(length=24), nullable=False),
    sa.Column('sitting_first', sa.Date(), nullable=True),
    sa.Column('sitting_last', sa.Date(), nullable=True),
    sa.Column('act_number', sa.String(length=15), nullable=True),
    sa.Column('transmission', sa.String(length=8), nullable=True),
    sa.Column('act_id', sa.String(length=64), nullable=True),
    sa.Column('received_on', sa.Date(), nullable=True),
    sa.Column('published_on', sa.Date(), nullable=True),
    sa.Column('executoire_on', sa.Date(), nullable=True),
    sa.Column('control_restarted_on', sa.Date(), nullable=True),
    sa.Column('control_ends_on', sa.Date(), nullable=True),
    sa.Column('dossier', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['authority_id'], ['authorities.id'], name=op.f('fk_acts_authority_id_authorities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_acts')),
    sa.UniqueConstraint('act_id', name=op.f('uq_acts_act_id')),
    sa.UniqueConstraint('authority_id', 'reference', name=op.f('uq_acts_authority_id_reference'))
    )
    with op.batch_alter_table('acts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_acts_authority_id'), ['authority_id'], unique=False)


def _old_acts_table() -> None:
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


def upgrade() -> None:
    bind = op.get_bind()
    old_acts = {row["grant_id"]: row for row in _rows("SELECT * FROM acts")}
    votes = _rows("SELECT id, grant_id, session_on, act_number FROM deliberations ORDER BY grant_id, session_on")
    grants = {row["id"]: row for row in _rows("SELECT id, reference, authority_id FROM grants")}
    op.drop_table('acts')
    _new_acts_table()
    latest = {vote["grant_id"]: vote for vote in votes}  # ordered by session: the last one wins
    acts = sa.table('acts', *(sa.column(name) for name in (
        'authority_id', 'reference', 'body', 'sitting_first', 'sitting_last', 'act_number', 'transmission',
        'act_id') + _RECEIPT), sa.column('dossier', sa.JSON()))
    act_of: dict[int, int] = {}
    for grant_id in sorted(old_acts.keys() | latest.keys()):
        grant, receipt, vote = grants[grant_id], old_acts.get(grant_id), latest.get(grant_id)
        row: dict[str, Any] = {
            "authority_id": grant["authority_id"], "reference": grant["reference"], "body": "conseil",
            "sitting_first": vote["session_on"] if vote else None, "sitting_last": vote["session_on"] if vote else None,
            "act_number": vote["act_number"] if vote else None,
            "transmission": "ctes" if receipt else None, "act_id": receipt["act_id"] if receipt else None,
            "dossier": {},
        } | {name: receipt[name] if receipt else None for name in _RECEIPT}
        act_of[grant_id] = bind.execute(acts.insert().values(**row).returning(sa.column('id'))).scalar_one()
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('act_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_grants_act_id'), ['act_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_grants_act_id_acts'), 'acts', ['act_id'], ['id'])
    with op.batch_alter_table('deliberations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('act_id', sa.Integer(), nullable=True))
    for grant_id, act_id in act_of.items():
        bind.execute(sa.text("UPDATE grants SET act_id = :a WHERE id = :g"), {"a": act_id, "g": grant_id})
        bind.execute(sa.text("UPDATE deliberations SET act_id = :a WHERE grant_id = :g"), {"a": act_id, "g": grant_id})
    with op.batch_alter_table('deliberations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliberations_grant_id'))
        batch_op.drop_constraint(batch_op.f('uq_deliberations_grant_id_session_on'), type_='unique')
        batch_op.drop_constraint(batch_op.f('fk_deliberations_grant_id_grants'), type_='foreignkey')
        batch_op.drop_column('grant_id')
        batch_op.alter_column('act_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f('ix_deliberations_act_id'), ['act_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_deliberations_act_id_session_on'), ['act_id', 'session_on'])
        batch_op.create_foreign_key(batch_op.f('fk_deliberations_act_id_acts'), 'acts', ['act_id'], ['id'],
                                    ondelete='CASCADE')


def downgrade() -> None:
    bind = op.get_bind()
    acts = {row["id"]: row for row in _rows("SELECT * FROM acts")}
    members = _rows("SELECT id, act_id FROM grants WHERE act_id IS NOT NULL ORDER BY id")
    votes = _rows("SELECT * FROM deliberations")
    with op.batch_alter_table('deliberations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('grant_id', sa.Integer(), nullable=True))
        batch_op.drop_constraint(batch_op.f('uq_deliberations_act_id_session_on'), type_='unique')
    # Each grant of an act gets its own copy of the act's votes.
    columns = [name for name in (votes[0] if votes else {}) if name not in ("id", "act_id", "grant_id")]
    table = sa.table('deliberations', *(sa.column(name) for name in columns + ["act_id", "grant_id"]))
    bind.execute(sa.text("DELETE FROM deliberations"))
    for member in members:
        for vote in votes:
            if vote["act_id"] == member["act_id"]:
                bind.execute(table.insert().values(
                    **{name: vote[name] for name in columns}, act_id=vote["act_id"], grant_id=member["id"]))
    with op.batch_alter_table('deliberations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_deliberations_act_id_acts'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_deliberations_act_id'))
        batch_op.drop_column('act_id')
        batch_op.alter_column('grant_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f('ix_deliberations_grant_id'), ['grant_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_deliberations_grant_id_session_on'),
                                          ['grant_id', 'session_on'])
        batch_op.create_foreign_key(batch_op.f('fk_deliberations_grant_id_grants'), 'grants', ['grant_id'], ['id'],
                                    ondelete='CASCADE')
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_grants_act_id_acts'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_grants_act_id'))
        batch_op.drop_column('act_id')
    op.drop_table('acts')
    _old_acts_table()
    old = sa.table('acts', *(sa.column(name) for name in ("grant_id", "act_id") + _RECEIPT))
    kept: set[int] = set()
    for member in members:
        act = acts[member["act_id"]]
        if act["transmission"] != "ctes" or act["id"] in kept:
            continue
        kept.add(act["id"])
        bind.execute(old.insert().values(grant_id=member["id"], act_id=act["act_id"],
                                         **{name: act[name] for name in _RECEIPT}))
