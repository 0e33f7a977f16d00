"""The dashboard's newsroom pages: where donations come from, and the notifications sent."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for

from tracker import admin_services as ops
from tracker import i18n, notifications, notify_channels, reports, services
from tracker.domain.text import message
from tracker.extensions import db
from tracker.models import Notification
from tracker.views.admin import actor, admin, refused, selected_campaign

# --- where donations come from -----------------------------------------------------


@admin.get("/sources")
def sources() -> Any:
    campaign = selected_campaign()
    if campaign is None:
        return render_template("admin/sources.html", campaign=None)
    try:
        month = ops.parse_month(request.args.get("month"), campaign)
    except ops.AdminError as err:
        return refused(err.message, 400)
    pages, tags = reports.sources(campaign, month)
    return render_template(
        "admin/sources.html",
        campaign=campaign,
        campaigns=ops.campaigns(),
        month=month,
        previous_month=month.previous(),
        next_month=month.next(),
        pages=pages,
        tags=tags,
    )


# --- notifications -----------------------------------------------------------------


@admin.get("/notifications")
def notification_list() -> Any:
    from flask import current_app

    return render_template(
        "admin/notifications.html",
        rows=notifications.listing(),
        channels=notify_channels.configured(current_app.config),
        kind_label=lambda kind: (
            i18n.text(notifications.KIND_LABELS[kind])
            if kind in notifications.KIND_LABELS
            else kind
        ),
        text_of=lambda row: notifications.render(row).text,
        status_label=lambda status: i18n.text(notifications.STATUS_LABELS[status]),
    )


@admin.post("/notifications/<int:notification_id>/send")
def notification_send(notification_id: int) -> Any:
    found = db.session.get(Notification, notification_id)
    if found is None:
        abort(404)
    notifications.send_again(found, services.now())
    ops.audit(actor(), "notification_resent", notification=found.public_id, kind=found.kind)
    db.session.commit()
    states = sorted({d.status for d in found.deliveries})
    flash(
        i18n.text(
            message(
                "Sent %(id)s again: %(states)s.",
                id=found.public_id,
                states=", ".join(i18n.text(notifications.STATUS_LABELS[s]) for s in states) or "–",
            )
        )
    )
    return redirect(url_for("admin.notification_list") + f"#n-{found.id}", code=303)
