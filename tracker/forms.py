"""Flask-WTF forms. Domain checks reuse the CLI's validators; each error lands on its field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # stubs: 3.2
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from tracker import i18n, notifications, services
from tracker.domain import money, periods
from tracker.domain.text import Said, message
from tracker.models import Campaign

REQUIRED = DataRequired(message=_l("This field is required."))


def _longest(limit: int) -> Length:
    return Length(max=limit, message=_l("At most %(max)d characters.", max=limit))


def _check(field: Field, parse: Callable[[], Any]) -> Any:
    """Run a domain parser; its refusal becomes the field's error (translated when shown)."""
    try:
        return parse()
    except Said as err:
        raise ValidationError(i18n.text(err.message)) from None
    except ValueError as err:
        raise ValidationError(str(err.args[0] if err.args else err)) from None


class LoginForm(FlaskForm):
    email = StringField(_l("Email"), validators=[REQUIRED, _longest(254)])
    password = PasswordField(_l("Password"), validators=[REQUIRED, _longest(1024)])


class CampaignForm(FlaskForm):
    """Create (every field) or edit (no slug, no currency) a campaign."""

    slug = StringField(_l("Slug"), description=_l("a-z, 0-9 and -, in URLs"))
    name = StringField(_l("Name"), validators=[REQUIRED])
    currency = StringField(_l("Currency"), description=_l("ISO 4217, e.g. USD"))
    timezone = StringField(
        _l("Timezone"), default="UTC", description=_l("IANA name, e.g. Europe/Berlin")
    )
    locale = StringField(_l("Locale"), default="en", description=_l("e.g. en, de_DE"))
    milestones = StringField(
        _l("Milestones"),
        validators=[REQUIRED],
        description=_l("major units, ascending: 0,2500,5000"),
    )
    presets = StringField(_l("Preset amounts"), description=_l("major units: 5,10,25 (optional)"))
    allowed_origins = StringField(
        _l("Allowed embed origins"),
        description=_l("https://a.example,https://b.example (optional)"),
    )
    show_supporters = BooleanField(
        _l("Show monthly supporters in the widget"),
        description=_l('adds a line such as "57 MONTHLY SUPPORTERS"'),
    )
    notify_kinds = SelectMultipleField(
        _l("Notifications"),
        choices=[
            SelectChoice("milestone_reached", _l("a milestone is reached")),
            SelectChoice("month_closed", _l("a month closes")),
            SelectChoice("review_needed", _l("a payment is kept for review")),
        ],
        default=["milestone_reached", "month_closed", "review_needed"],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validate_choice=True,
    )

    def __init__(self, *args: Any, campaign: Campaign | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.campaign = campaign
        self.parsed: dict[str, Any] = {}
        if campaign is not None:
            del self.slug
            del self.currency

    def _currency(self) -> str | None:
        if self.campaign is not None:
            return self.campaign.currency
        return self.parsed.get("currency")

    def validate_slug(self, field: Field) -> None:
        if self.campaign is None:
            slug = _check(field, lambda: services.parse_slug((field.data or "").strip()))
            if services.get_campaign(slug) is not None:
                raise ValidationError(
                    i18n.text(message("campaign '%(slug)s' already exists", slug=slug))
                )
            self.parsed["slug"] = slug

    def validate_name(self, field: Field) -> None:
        self.parsed["name"] = _check(field, lambda: services.parse_name(field.data))

    def validate_currency(self, field: Field) -> None:
        if self.campaign is None:
            self.parsed["currency"] = _check(
                field, lambda: money.normalize_currency(field.data or "")
            )

    def validate_timezone(self, field: Field) -> None:
        zone = (field.data or "").strip() or "UTC"
        _check(field, lambda: periods.parse_timezone(zone))
        self.parsed["timezone"] = zone

    def validate_locale(self, field: Field) -> None:
        self.parsed["locale"] = _check(
            field, lambda: money.parse_locale((field.data or "").strip() or "en")
        )

    def validate_milestones(self, field: Field) -> None:
        currency = self._currency()
        if currency is not None:
            self.parsed["milestones"] = _check(
                field, lambda: money.parse_milestones(field.data, currency)
            )

    def validate_presets(self, field: Field) -> None:
        currency = self._currency()
        if currency is not None:
            self.parsed["preset_amounts"] = _check(
                field, lambda: services.parse_presets(field.data or "", currency)
            )

    def validate_allowed_origins(self, field: Field) -> None:
        self.parsed["allowed_origins"] = _check(
            field, lambda: services.parse_origins(field.data or "")
        )

    def validate_show_supporters(self, field: Field) -> None:
        self.parsed["show_supporters"] = bool(field.data)

    def validate_notify_kinds(self, field: Field) -> None:
        chosen = set(field.data or [])
        self.parsed["notify_kinds"] = [k for k in notifications.KINDS if k in chosen]

    def validate(self, extra_validators: Any = None) -> bool:
        # Fields validate in declaration order, so currency is parsed before the amounts.
        ok = bool(super().validate(extra_validators))
        if self.campaign is None and "currency" not in self.parsed:
            for field in (self.milestones, self.presets):
                if not field.errors and field.data:
                    field.errors = [
                        *field.errors,
                        i18n.text(message("needs a valid currency first")),
                    ]
            ok = False
        return ok

    def fill(self, campaign: Campaign) -> None:
        """Show a campaign's current settings (amounts in major units)."""
        cur = campaign.currency
        self.name.data = campaign.name
        self.timezone.data = campaign.timezone
        self.locale.data = campaign.locale
        self.milestones.data = ",".join(money.format_major(m, cur) for m in campaign.milestones)
        self.presets.data = ",".join(money.format_major(m, cur) for m in campaign.preset_amounts)
        self.allowed_origins.data = ",".join(campaign.allowed_origins)
        self.show_supporters.data = campaign.show_supporters
        self.notify_kinds.data = list(campaign.notify_kinds or [])


class DonationForm(FlaskForm):
    """A manual (offline) donation."""

    campaign = SelectField(_l("Campaign"), validators=[REQUIRED], choices=[])
    amount = StringField(_l("Amount"), validators=[REQUIRED], description=_l("major units: 12.50"))
    received_at = StringField(
        _l("Received at"),
        description=_l("2026-11-03T14:30 in the campaign's timezone; empty: now"),
    )
    donor = StringField(_l("Donor"), validators=[Optional(), _longest(200)])

    def __init__(self, *args: Any, campaigns: list[Campaign], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A required select starts with a placeholder.
        choose = SelectChoice("", _l("Choose a campaign"))
        self.campaign.choices = [
            choose,
            *(SelectChoice(c.slug, f"{c.name} ({c.slug})") for c in campaigns),
        ]
        self.by_slug = {c.slug: c for c in campaigns}
        self.parsed: dict[str, Any] = {}

    def validate_amount(self, field: Field) -> None:
        campaign = self.by_slug.get(self.campaign.data or "")
        if campaign is not None:
            self.parsed["amount_minor"] = _check(
                field, lambda: money.parse_amount(field.data, campaign.currency)
            )

    def validate_received_at(self, field: Field) -> None:
        campaign = self.by_slug.get(self.campaign.data or "")
        if campaign is None:
            return
        text = (field.data or "").strip()
        at: datetime = (
            _check(field, lambda: periods.parse_instant(text, services.campaign_zone(campaign)))
            if text
            else services.now()
        )
        self.parsed["received_at"] = _check(
            field,
            lambda: periods.not_in_future(at, services.now(), message("a donation's time")),
        )


class RefundForm(FlaskForm):
    amount = StringField(
        _l("Amount"), validators=[Optional()], description=_l("empty: all that is left")
    )


class AssignForm(FlaskForm):
    campaign = SelectField(_l("Campaign"), validators=[REQUIRED], choices=[])

    def __init__(self, *args: Any, campaigns: list[Campaign], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.campaign.choices = [
            SelectChoice(c.slug, f"{c.name} ({c.slug}, {c.currency})") for c in campaigns
        ]
