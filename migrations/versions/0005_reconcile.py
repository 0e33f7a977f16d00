"""stripe_events.source; reconciliations and their scratch records (tracker reconcile)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('reconciliations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('month', sa.Integer(), nullable=False),
    sa.Column('ran_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('applied', sa.Boolean(), nullable=False),
    sa.Column('at_stripe', sa.Integer(), nullable=False),
    sa.Column('here', sa.Integer(), nullable=False),
    sa.Column('mended', sa.Integer(), nullable=False),
    sa.Column('differences', sa.JSON(), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_reconciliations_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconciliations'))
    )
    with op.batch_alter_table('reconciliations', schema=None) as batch_op:
        batch_op.create_index('ix_reconciliations_campaign_ran', ['campaign_id', 'ran_at'], unique=False)

    op.create_table('reconcile_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('payment_intent_id', sa.String(length=255), nullable=True),
    sa.Column('frequency', sa.String(length=16), nullable=False),
    sa.Column('campaign_slug', sa.String(length=255), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('refunded_minor', sa.BigInteger(), nullable=False),
    sa.Column('disputed_minor', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['reconciliations.id'], name=op.f('fk_reconcile_records_run_id_reconciliations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconcile_records'))
    )
    with op.batch_alter_table('reconcile_records', schema=None) as batch_op:
        batch_op.create_index('ix_reconcile_records_run_intent', ['run_id', 'payment_intent_id'], unique=False)
        batch_op.create_index('ix_reconcile_records_run_key', ['run_id', 'key'], unique=False)

    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=16), nullable=False, server_default='webhook'))



def downgrade():
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.drop_column('source')

    with op.batch_alter_table('reconcile_records', schema=None) as batch_op:
        batch_op.drop_index('ix_reconcile_records_run_key')
        batch_op.drop_index('ix_reconcile_records_run_intent')

    op.drop_table('reconcile_records')
    with op.batch_alter_table('reconciliations', schema=None) as batch_op:
        batch_op.drop_index('ix_reconciliations_campaign_ran')

    op.drop_table('reconciliations')
