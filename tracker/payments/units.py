"""Amounts at the Stripe boundary: ISO 4217 minor units (ours) against Stripe's integers.

Tracker stores every amount in the minor units ISO 4217 gives its currency
(tracker.domain.money). Stripe counts a few currencies differently
(docs.stripe.com/currencies): its zero-decimal list is sent as is (UGX included), its
three-decimal ones must end in 0, and ISK stays two-decimal at Stripe although ISO gives it
none (5 ISK is sent as 500). Every amount that crosses the boundary, going out (Checkout,
refunds) or coming in (webhook payloads, API lists), goes through `to_stripe` or
`from_stripe`, and both take the currency: there is no conversion without it.
"""

from __future__ import annotations

from tracker.domain import money
from tracker.domain.text import message

ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA"}
    | {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
# Stripe's smallest charge in major units for the usual settlement currencies;
# other currencies fall back to one minor unit and Stripe's own check.
MINIMUM_MAJOR = {
    "USD": "0.50",
    "AED": "2",
    "AUD": "0.50",
    "BGN": "1",
    "BRL": "0.50",
    "CAD": "0.50",
    "CHF": "0.50",
    "CZK": "15",
    "DKK": "2.50",
    "EUR": "0.50",
    "GBP": "0.30",
    "HKD": "4",
    "HUF": "175",
    "INR": "0.50",
    "JPY": "50",
    "MXN": "10",
    "MYR": "2",
    "NOK": "3",
    "NZD": "0.50",
    "PLN": "2",
    "RON": "2",
    "SEK": "3",
    "SGD": "0.50",
    "THB": "10",
}
# Stripe amounts have at most eight digits in Stripe's units.
MAX_STRIPE_AMOUNT = 99_999_999


def stripe_exponent(currency: str) -> int:
    """Digits after the point in Stripe's integer amounts for this currency."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    # Everything else has two, ISK included: zero-decimal in ISO 4217, but sent to
    # Stripe with two decimals that are always 00.
    return 2


def _shift(currency: str) -> int | None:
    """Stripe's digits minus ISO's; None for a code ISO 4217 does not list."""
    try:
        ours = money.exponent(currency)
    except money.CurrencyError:
        return None
    return stripe_exponent(currency) - ours


def _ten_to(power: int) -> int:
    """10 ** power for power >= 0, as an int."""
    return int(10**power)


def to_stripe(minor: int, currency: str) -> int:
    """Our minor units to Stripe's integer amount (ISK 5 -> 500); AmountError if Stripe
    cannot carry it (MGA, which ISO gives 2 digits and Stripe none, in whole ariary only)."""
    shift = _shift(currency)
    if shift is None:
        raise money.CurrencyError(message("unknown currency '%(code)s'", code=currency[:10]))
    if shift >= 0:
        return minor * _ten_to(shift)
    factor = _ten_to(-shift)
    if minor % factor:
        raise money.AmountError(
            message(
                "%(code)s amounts must be whole %(unit)s",
                code=currency.upper(),
                unit=money.Amount(factor, currency),
            )
        )
    return minor // factor


def from_stripe(amount: int, currency: str) -> int:
    """Stripe's integer amount to our minor units (ISK 500 -> 5).

    AmountError when Stripe's figure has digits our units cannot hold (ISK 550): Stripe
    never sends such an amount. A code ISO 4217 does not list keeps Stripe's figure (only
    possible for payments kept for review).
    """
    shift = _shift(currency)
    if shift is None:
        return amount
    if shift <= 0:
        return amount * _ten_to(-shift)
    factor = _ten_to(shift)
    if amount % factor:
        raise money.AmountError(
            message(
                "%(code)s amount %(amount)s is not a whole unit",
                code=currency.upper(),
                amount=str(amount),
            )
        )
    return amount // factor


def check_amount(minor: int, currency: str) -> None:
    """Refuse an amount Stripe would refuse for a Checkout Session (AmountError)."""
    code = currency.upper()
    minimum = MINIMUM_MAJOR.get(code)
    if minimum is not None and minor < money.parse_amount(minimum, code):
        smallest = money.Amount(money.parse_amount(minimum, code), code)
        raise money.AmountError(message("the smallest donation is %(amount)s", amount=smallest))
    stripe_amount = to_stripe(minor, code)
    if code in THREE_DECIMAL and stripe_amount % 10:
        raise money.AmountError(message("%(code)s amounts must end in 0 (like 12.340)", code=code))
    if stripe_amount > MAX_STRIPE_AMOUNT:
        whole = _ten_to(max(0, _shift(code) or 0))  # ISK: Stripe's last two digits are 00
        largest = from_stripe(MAX_STRIPE_AMOUNT - MAX_STRIPE_AMOUNT % whole, code)
        raise money.AmountError(
            message("the largest donation is %(amount)s", amount=money.Amount(largest, code))
        )
