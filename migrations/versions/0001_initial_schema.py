"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-25

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    
    op.create_table('admins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admins')),
    sa.UniqueConstraint('email', name=op.f('uq_admins_email'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=254), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('locale', sa.String(length=20), nullable=False),
    sa.Column('milestones', sa.JSON(), nullable=False),
    sa.Column('allowed_origins', sa.JSON(), nullable=False),
    sa.Column('preset_amounts', sa.JSON(), nullable=False),
    sa.Column('revision', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('slug', name=op.f('uq_campaigns_slug'))
    )
    op.create_table('payment_adjustments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payment_intent_id', sa.String(length=255), nullable=False),
    sa.Column('charge_id', sa.String(length=255), nullable=True),
    sa.Column('refunded_minor', sa.BigInteger(), nullable=False),
    sa.Column('disputed_minor', sa.BigInteger(), nullable=False),
    sa.Column('dispute_status', sa.String(length=32), nullable=True),
    sa.Column('dispute_event_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('disputed_minor >= 0', name=op.f('ck_payment_adjustments_disputed_not_negative')),
    sa.CheckConstraint('refunded_minor >= 0', name=op.f('ck_payment_adjustments_refunded_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_adjustments')),
    sa.UniqueConstraint('payment_intent_id', name=op.f('uq_payment_adjustments_payment_intent_id'))
    )
    op.create_table('stripe_events',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_events'))
    )
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stripe_events_applied_at'), ['applied_at'], unique=False)

    op.create_table('periods',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('month', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('milestones', sa.JSON(), nullable=False),
    sa.Column('raised_minor', sa.BigInteger(), nullable=False),
    sa.Column('donations', sa.Integer(), nullable=False),
    sa.Column('closed', sa.Boolean(), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_raised_minor', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('donations >= 0', name=op.f('ck_periods_donations_not_negative')),
    sa.CheckConstraint('month BETWEEN 1 AND 12', name=op.f('ck_periods_month_valid')),
    sa.CheckConstraint('raised_minor >= 0', name=op.f('ck_periods_raised_not_negative')),
    sa.CheckConstraint('starts_at < ends_at', name=op.f('ck_periods_bounds_ordered')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_periods_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_periods')),
    sa.UniqueConstraint('campaign_id', 'year', 'month', name='uq_periods_campaign_month')
    )
    with op.batch_alter_table('periods', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_periods_campaign_id'), ['campaign_id'], unique=False)

    op.create_table('donations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('external_key', sa.String(length=255), nullable=False),
    sa.Column('payment_intent_id', sa.String(length=255), nullable=True),
    sa.Column('frequency', sa.String(length=16), nullable=False),
    sa.Column('refunded_minor', sa.BigInteger(), nullable=False),
    sa.Column('disputed_minor', sa.BigInteger(), nullable=False),
    sa.Column('donor_name', sa.String(length=200), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("source IN ('manual', 'stripe')", name=op.f('ck_donations_source_known')),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_donations_amount_positive')),
    sa.CheckConstraint('disputed_minor >= 0', name=op.f('ck_donations_disputed_not_negative')),
    sa.CheckConstraint('refunded_minor >= 0', name=op.f('ck_donations_refunded_not_negative')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_donations_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['period_id'], ['periods.id'], name=op.f('fk_donations_period_id_periods')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_donations')),
    sa.UniqueConstraint('external_key', name=op.f('uq_donations_external_key'))
    )
    with op.batch_alter_table('donations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_donations_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_donations_payment_intent_id'), ['payment_intent_id'], unique=False)
        batch_op.create_index('ix_donations_period_received', ['period_id', 'received_at'], unique=False)

    op.create_table('review_payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_key', sa.String(length=255), nullable=False),
    sa.Column('payment_intent_id', sa.String(length=255), nullable=True),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('campaign_slug', sa.String(length=255), nullable=True),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('frequency', sa.String(length=16), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=True),
    sa.Column('donor_name', sa.String(length=200), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('donation_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("reason IN ('unassigned', 'currency', 'livemode')", name=op.f('ck_review_payments_reason_known')),
    sa.CheckConstraint('amount_minor >= 0', name=op.f('ck_review_payments_amount_not_negative')),
    sa.ForeignKeyConstraint(['donation_id'], ['donations.id'], name=op.f('fk_review_payments_donation_id_donations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_payments')),
    sa.UniqueConstraint('external_key', name=op.f('uq_review_payments_external_key'))
    )
    with op.batch_alter_table('review_payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_payments_payment_intent_id'), ['payment_intent_id'], unique=False)

    


def downgrade():
    
    with op.batch_alter_table('review_payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_payments_payment_intent_id'))

    op.drop_table('review_payments')
    with op.batch_alter_table('donations', schema=None) as batch_op:
        batch_op.drop_index('ix_donations_period_received')
        batch_op.drop_index(batch_op.f('ix_donations_payment_intent_id'))
        batch_op.drop_index(batch_op.f('ix_donations_campaign_id'))

    op.drop_table('donations')
    with op.batch_alter_table('periods', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_periods_campaign_id'))

    op.drop_table('periods')
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stripe_events_applied_at'))

    op.drop_table('stripe_events')
    op.drop_table('payment_adjustments')
    op.drop_table('campaigns')
    op.drop_table('audit_log')
    op.drop_table('admins')
    
