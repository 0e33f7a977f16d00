"""payment_adjustments.invoice_id: link a PaymentIntent to the invoice it paid

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('payment_adjustments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('invoice_id', sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f('ix_payment_adjustments_invoice_id'), ['invoice_id'], unique=False)


def downgrade():
    with op.batch_alter_table('payment_adjustments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_adjustments_invoice_id'))
        batch_op.drop_column('invoice_id')
