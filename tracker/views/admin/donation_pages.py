"""The dashboard's donations: a month's list, manual donations, refunds, the CSV export."""

from __future__ import annotations

from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from tracker import admin_services as ops
from tracker import i18n, reports, services
from tracker.domain import money
from tracker.domain.text import Refusal, message
from tracker.extensions import db
from tracker.forms import DonationForm, RefundForm
from tracker.views.admin import actor, admin, page_arg, refused, selected_campaign

# --- donations -----------------------------------------------------------------


def _donations_page(form: DonationForm | None = None, status: int = 200) -> Any:
    campaign = selected_campaign()
    all_campaigns = ops.campaigns()
    form = form or DonationForm(campaigns=all_campaigns)
    if campaign is None:
        return render_template("admin/donations.html", campaign=None, form=form), status
    try:
        month = ops.parse_month(request.args.get("month"), campaign)
    except ops.AdminError as err:
        return refused(err.message, 400)
    search = request.args.get("q", "")
    listing = ops.donations_page(campaign, month, search, page_arg())
    if not form.campaign.data:
        form.campaign.data = campaign.slug
    return render_template(
        "admin/donations.html",
        campaign=campaign,
        campaigns=all_campaigns,
        month=month,
        previous_month=month.previous(),
        next_month=month.next(),
        search=search,
        listing=listing,
        form=form,
        period=services.find_period(campaign, month),
        refund_form=RefundForm(),
    ), status


@admin.route("/donations", methods=["GET", "POST"])
def donations() -> Any:
    if request.method == "GET":
        return _donations_page()
    form = DonationForm(campaigns=ops.campaigns())
    if not form.validate():
        return _donations_page(form, 400 if form.csrf_token.errors else 422)
    campaign = form.by_slug[form.campaign.data]
    donation = ops.add_manual_donation(
        campaign,
        form.parsed["amount_minor"],
        form.parsed["received_at"],
        form.donor.data,
        actor(),
    )
    db.session.commit()
    amount = money.Amount(donation.amount_minor, campaign.currency)
    flash(
        i18n.text(
            message(
                "Recorded %(amount)s for %(slug)s (donation %(id)s).",
                amount=amount,
                slug=campaign.slug,
                id=str(donation.id),
            )
        )
    )
    month = services.month_of(donation.period).key
    return redirect(url_for("admin.donations", campaign=campaign.slug, month=month), code=303)


def _back_to(donation: Any) -> BaseResponse:
    month = services.month_of(donation.period).key
    return redirect(
        url_for("admin.donations", campaign=donation.campaign.slug, month=month), code=303
    )


@admin.post("/donations/<int:donation_id>/void")
def void_donation(donation_id: int) -> Any:
    donation = ops.require_donation(donation_id)
    slug, month = donation.campaign.slug, services.month_of(donation.period).key
    try:
        ops.void_manual_donation(donation, actor())
    except ops.AdminError as err:
        return refused(err.message)
    db.session.commit()
    flash(i18n.text(message("Voided donation %(id)s.", id=str(donation_id))))
    return redirect(url_for("admin.donations", campaign=slug, month=month), code=303)


@admin.post("/donations/<int:donation_id>/refund")
def refund_donation(donation_id: int) -> Any:
    form = RefundForm()
    donation = ops.require_donation(donation_id)
    try:
        amount_minor = ops.refund_amount(donation, form.amount.data or "")
        if donation.source == "manual":
            ops.refund_manual_donation(donation, amount_minor, actor())
            done = message("Recorded a refund on donation %(id)s.", id=str(donation.id))
        else:
            refund_id = ops.start_stripe_refund(donation, amount_minor, actor())
            done = message(
                "Stripe accepted refund %(refund)s for donation %(id)s; "
                "it counts once Stripe confirms it.",
                refund=refund_id,
                id=str(donation.id),
            )
    except Refusal as err:
        return refused(err.message)
    db.session.commit()
    flash(i18n.text(done))
    return _back_to(donation)


@admin.get("/campaigns/<slug>/export.csv")
def export_csv(slug: str) -> Any:
    campaign = services.require_campaign(slug)
    try:
        month = ops.parse_month(request.args.get("month"), campaign)
    except ops.AdminError as err:
        return refused(err.message, 400)
    ops.audit(actor(), "csv_exported", campaign=campaign.slug, month=month.key)
    db.session.commit()
    filename = f"{campaign.slug}-{month.key}.csv"
    return Response(
        reports.csv_export(campaign, month),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
