"""The dashboard's review page (payments kept, events rejected) and the audit log."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for

from tracker import admin_services as ops
from tracker import i18n, inbox, services, supporters
from tracker.domain.text import Refusal, message
from tracker.extensions import db
from tracker.forms import AssignForm
from tracker.views.admin import actor, admin, page_arg, refused

# --- review queue --------------------------------------------------------------


@admin.get("/review")
def review() -> Any:
    show_all = request.args.get("all") == "1"
    show_seen = request.args.get("seen") == "1"
    return render_template(
        "admin/review.html",
        payments=ops.review_queue(include_resolved=show_all),
        show_all=show_all,
        rejected=inbox.rejected_events(include_seen=show_seen),
        subscriptions=supporters.kept_for_review(),
        show_seen=show_seen,
        form=AssignForm(campaigns=ops.campaigns()),
    )


@admin.post("/review/events/<event_id>/seen")
def event_seen(event_id: str) -> Any:
    stored = inbox.mark_seen(event_id)
    ops.audit(actor(), "rejected_event_seen", event_id=stored.id)
    db.session.commit()
    flash(i18n.text(message("Marked event %(id)s as seen.", id=stored.id)))
    return redirect(url_for("admin.review") + "#rejected", code=303)


@admin.post("/review/<int:review_id>/assign")
def assign(review_id: int) -> Any:
    form = AssignForm(campaigns=ops.campaigns())
    if not form.validate():
        return refused(message("choose a campaign to assign the payment to"))
    payment = ops.require_review(review_id)
    campaign = services.require_campaign(form.campaign.data)
    try:
        donation = ops.assign_review(payment, campaign, actor())
    except Refusal as err:
        return refused(err.message)
    db.session.commit()
    flash(
        i18n.text(
            message(
                "Assigned payment %(key)s to %(slug)s (donation %(id)s).",
                key=donation.external_key,
                slug=campaign.slug,
                id=str(donation.id),
            )
        )
    )
    return redirect(url_for("admin.review"), code=303)


# --- audit log -----------------------------------------------------------------


@admin.get("/audit")
def audit() -> Any:
    return render_template("admin/audit.html", listing=ops.audit_page(page_arg()))
