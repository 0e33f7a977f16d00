"""The dashboard's overview, campaigns, embed snippets, months and monthly supporters."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import get_locale

from tracker import admin_services as ops
from tracker import embeds, i18n, payments, reconcile, reports, services, snapshots
from tracker import supporters as supporters_of
from tracker.domain.periods import Period as Month
from tracker.domain.text import message, plural_message
from tracker.extensions import db
from tracker.forms import CampaignForm
from tracker.models import Campaign
from tracker.views.admin import actor, admin, selected_campaign

# --- overview ------------------------------------------------------------------


@admin.get("/")
def overview() -> Any:
    at = services.now()
    cards = []
    for campaign in ops.campaigns():
        snap = snapshots.snapshot(campaign, at)
        cards.append(
            {
                "campaign": campaign,
                "snap": snap,
                "month": services.month_of(snap.period),
                "reconciled": reconcile.latest(campaign),
            }
        )
    latest = ops.latest_donations(10)
    db.session.commit()  # the current months may have just been created
    return render_template("admin/overview.html", cards=cards, latest=latest)


# --- campaigns -----------------------------------------------------------------


@admin.route("/campaigns", methods=["GET", "POST"])
def campaigns() -> Any:
    form = CampaignForm()
    if request.method == "POST":
        if not form.validate():
            status = 400 if form.csrf_token.errors else 422
            return render_template(
                "admin/campaigns.html", form=form, campaigns=ops.campaigns()
            ), status
        values = form.parsed
        campaign = services.create_campaign(
            values["slug"],
            name=values["name"],
            currency=values["currency"],
            timezone=values["timezone"],
            locale=values["locale"],
            milestones=values["milestones"],
            allowed_origins=values["allowed_origins"],
            preset_amounts=values["preset_amounts"],
            show_supporters=values["show_supporters"],
            notify_kinds=values["notify_kinds"],
        )
        services.period_for(campaign, services.now())
        ops.audit(actor(), "campaign_created", campaign=campaign.slug, settings=_settings(campaign))
        db.session.commit()
        flash(i18n.text(message("Created campaign %(slug)s.", slug=campaign.slug)))
        return redirect(url_for("admin.edit_campaign", slug=campaign.slug), code=303)
    return render_template("admin/campaigns.html", form=form, campaigns=ops.campaigns())


def _settings(campaign: Campaign) -> dict[str, Any]:
    return {
        "name": campaign.name,
        "currency": campaign.currency,
        "timezone": campaign.timezone,
        "locale": campaign.locale,
        "milestones": list(campaign.milestones),
        "preset_amounts": list(campaign.preset_amounts),
        "allowed_origins": list(campaign.allowed_origins),
        "show_supporters": campaign.show_supporters,
        "notify_kinds": list(campaign.notify_kinds or []),
    }


@admin.route("/campaigns/<slug>", methods=["GET", "POST"])
def edit_campaign(slug: str) -> Any:
    campaign = services.require_campaign(slug)
    form = CampaignForm(campaign=campaign)
    if request.method == "POST":
        if not form.validate():
            status = 400 if form.csrf_token.errors else 422
            return render_template("admin/campaign.html", form=form, campaign=campaign), status
        before = _settings(campaign)
        services.edit_campaign(campaign, services.now(), **form.parsed)
        after = _settings(campaign)
        changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        ops.audit(actor(), "campaign_edited", campaign=campaign.slug, changed=changed)
        db.session.commit()
        flash(i18n.text(message("Saved campaign %(slug)s.", slug=campaign.slug)))
        return redirect(url_for("admin.edit_campaign", slug=campaign.slug), code=303)
    form.fill(campaign)
    return render_template("admin/campaign.html", form=form, campaign=campaign)


@admin.get("/campaigns/<slug>/embed")
def snippets(slug: str) -> Any:
    campaign = services.require_campaign(slug)
    snippets = embeds.snippets(request.url_root, campaign, embeds.WidgetOptions())
    return render_template("admin/snippets.html", campaign=campaign, snippets=snippets)


# --- months --------------------------------------------------------------------


@admin.get("/months")
def months() -> Any:
    campaign = selected_campaign()
    if campaign is None:
        return render_template("admin/months.html", campaign=None)
    at = services.now()
    snap = snapshots.snapshot(campaign, at)
    rows = ops.months(campaign)
    chart = reports.chart(campaign, at, str(get_locale() or i18n.DEFAULT))
    db.session.commit()
    return render_template(
        "admin/months.html",
        campaign=campaign,
        campaigns=ops.campaigns(),
        rows=rows,
        chart=chart,
        snap=snap,
        month_of=services.month_of,
    )


# --- supporters ----------------------------------------------------------------


@admin.get("/supporters")
def supporters() -> Any:
    campaign = selected_campaign()
    if campaign is None:
        return render_template("admin/supporters.html", campaign=None)
    at = services.now()
    snap = snapshots.snapshot(campaign, at)
    period = snap.period
    db.session.commit()
    return render_template(
        "admin/supporters.html",
        campaign=campaign,
        campaigns=ops.campaigns(),
        snap=snap,
        month=services.month_of(period),
        rows=supporters_of.supporters(campaign, at, period.ends_at),
        cancelled=supporters_of.cancelled_between(campaign, period.starts_at, period.ends_at),
        failed=supporters_of.failed_between(campaign, period.starts_at, period.ends_at),
    )


# --- reconciliation with Stripe --------------------------------------------------


@admin.get("/reconcile")
def reconciliations() -> Any:
    campaign = selected_campaign()
    if campaign is None:
        return render_template("admin/reconcile.html", campaign=None)
    runs = reconcile.history(campaign, 12)
    return render_template(
        "admin/reconcile.html",
        campaign=campaign,
        campaigns=ops.campaigns(),
        runs=runs,
        last=runs[0] if runs else None,
        run_month=lambda run: Month(run.year, run.month),
        default_month=services.month_of(services.period_for(campaign, services.now())).key,
    )


@admin.post("/reconcile")
def run_reconcile() -> Any:
    campaign = services.require_campaign(request.form.get("campaign", ""))
    month = ops.parse_month(request.form.get("month", ""), campaign)
    apply = request.form.get("apply") == "1"
    try:
        run = reconcile.reconcile(campaign, month, apply=apply)
    except payments.PaymentError:
        ops.audit(actor(), "reconcile_failed", campaign=campaign.slug, month=month.key)
        db.session.commit()
        flash(i18n.text(message("Stripe could not be reached; nothing was changed.")))
        return redirect(url_for("admin.reconciliations", campaign=campaign.slug), code=303)
    ops.audit(
        actor(),
        "reconcile_run",
        campaign=campaign.slug,
        month=month.key,
        apply=apply,
        differences=len(run.differences),
        mended=run.mended,
    )
    db.session.commit()
    flash(
        i18n.text(
            plural_message(
                "Reconciled %(month)s: %(num)s difference.",
                "Reconciled %(month)s: %(num)s differences.",
                len(run.differences),
                month=month.key,
                num=len(run.differences),
            )
        )
    )
    return redirect(url_for("admin.reconciliations", campaign=campaign.slug), code=303)
