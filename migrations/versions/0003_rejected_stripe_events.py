"""stripe_events: rejected events (rejected_at, reason, seen_at); created may be unknown

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.alter_column('created', existing_type=sa.DateTime(timezone=True), nullable=True)
        batch_op.add_column(sa.Column('rejected_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('seen_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_stripe_events_rejected_at'), ['rejected_at'], unique=False)


def downgrade():
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stripe_events_rejected_at'))
        batch_op.drop_column('seen_at')
        batch_op.drop_column('reason')
        batch_op.drop_column('rejected_at')
        batch_op.alter_column('created', existing_type=sa.DateTime(timezone=True), nullable=False)
