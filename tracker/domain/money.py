"""Money as an integer count of a currency's minor units (ISO 4217's), and its display.

How many minor units a currency has comes from ISO 4217 (the iso4217 data package); Babel
(CLDR) only formats amounts for people to read.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from decimal import Context, Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import NumberPattern, get_currency_symbol
from iso4217 import Currency

from tracker.domain.text import Refusal, message, plural_message

MAX_MINOR = 10**12

MAX_MILESTONES = 20
_EMPTY_MILESTONES = message("milestones are empty; give at least a goal, like 0,2500,5000")
_TOO_MANY_MILESTONES = message(
    "at most %(max)s milestones are allowed, including 0", max=MAX_MILESTONES
)

_AMOUNT_RE = re.compile(r"[0-9]+(?:\.([0-9]+))?")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")
# A language subtag, then script/territory/variant subtags; checked before Babel sees it.
_LOCALE_RE = re.compile(r"[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})*")
_MAX_LOCALE_LEN = 20
_MAX_AMOUNT_LEN = 40
_MAX_MILESTONES_LEN = 1000
# Enough digits for any amount that passes the length check, so Decimal never rounds.
_EXACT = Context(prec=100)
# CLDR puts no-break spaces between number and symbol; plain spaces keep JSON and tests readable.
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " "})


@dataclass(frozen=True)
class Amount:
    """An amount as a message value: each reader sees it in their locale's format."""

    minor: int
    currency: str

    def format(self, locale: str) -> str:
        return format_money(self.minor, self.currency, locale)

    def __str__(self) -> str:
        return self.format("en")


class AmountError(Refusal):
    """An amount (or list of amounts) that a person typed was refused; the message says why."""


class CurrencyError(Refusal):
    """A currency code that is not an active ISO 4217 currency."""


class LocaleError(Refusal):
    """A locale identifier that CLDR does not know."""


@lru_cache(maxsize=1)
def _iso_exponents() -> dict[str, int]:
    # ISO 4217 list one, as the iso4217 package keeps it: every current code with its minor
    # unit (HUF 2, ISK 0, KWD 3, CLF 4). Codes without one (XAU, XDR, XTS, XXX) are not money.
    return {c.code: int(c.exponent) for c in Currency if c.exponent is not None}


def normalize_currency(code: str) -> str:
    """Return the upper-cased ISO 4217 code, or raise CurrencyError if it is not current."""
    cleaned = code.strip().upper() if isinstance(code, str) else ""
    if not _CURRENCY_RE.fullmatch(cleaned) or cleaned not in _iso_exponents():
        shown = code.strip()[:10] if isinstance(code, str) else repr(code)
        raise CurrencyError(message("unknown currency '%(code)s'", code=shown))
    return cleaned


def currencies() -> frozenset[str]:
    """Every current ISO 4217 currency code."""
    return frozenset(_iso_exponents())


def exponent(currency: str) -> int:
    """Return the number of minor digits ISO 4217 gives the currency (USD 2, JPY 0, KWD 3).

    Never CLDR's: locale data says how many digits to show, and changes between releases.
    """
    return _iso_exponents()[normalize_currency(currency)]


def parse_amount(text: str, currency: str, *, allow_zero: bool = False) -> int:
    """Parse a plain decimal in major units ("12.50") into minor units, refusing anything else."""
    code = normalize_currency(currency)
    digits = exponent(code)
    if not isinstance(text, str):
        raise AmountError(message("amount is not a plain decimal number like 12.50"))
    cleaned = text.strip()
    if not cleaned:
        raise AmountError(message("amount is empty"))
    if len(cleaned) > _MAX_AMOUNT_LEN:
        raise AmountError(message("amount is too long"))
    if cleaned.startswith("-"):
        raise AmountError(message("amount must be greater than zero"))
    if cleaned.startswith("+"):
        raise AmountError(message("amount must be written without a sign, like 12.50"))
    if "," in cleaned:
        raise AmountError(
            message(
                "amount must not contain commas or thousands separators; "
                "write 1000.50, not 1,000.50"
            )
        )
    lowered = cleaned.lower()
    if lowered.lstrip("+-") in {"nan", "snan", "inf", "infinity"}:
        raise AmountError(message("amount must be a finite number"))
    if "e" in lowered and any(c.isdigit() for c in lowered):
        raise AmountError(message("amount must not use exponent notation like 1e3; write 1000"))
    match = _AMOUNT_RE.fullmatch(cleaned)
    if match is None:
        raise AmountError(message("amount is not a plain decimal number like 12.50"))
    fraction = match.group(1) or ""
    if len(fraction) > digits:
        if digits == 0:
            raise AmountError(message("%(code)s allows no decimal places", code=code))
        raise AmountError(
            plural_message(
                "%(code)s allows at most %(num)s decimal place",
                "%(code)s allows at most %(num)s decimal places",
                digits,
                code=code,
                num=digits,
            )
        )
    minor = int(Decimal(cleaned).scaleb(digits, context=_EXACT))
    if minor == 0 and not allow_zero:
        raise AmountError(message("amount must be greater than zero"))
    if minor > MAX_MINOR:
        raise AmountError(
            message(
                "amount must be at most %(amount)s %(code)s",
                amount=format_major(MAX_MINOR, code),
                code=code,
            )
        )
    return minor


def format_major(minor: int, currency: str) -> str:
    """Return minor units as a plain major-unit decimal for form fields ("12.50", "1000", "12")."""
    digits = exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**digits)
    if fraction == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{digits}d}"


def parse_locale(text: str) -> str:
    """Return the normalised locale identifier ("de-DE" -> "de_DE"), or raise LocaleError."""
    if not isinstance(text, str):
        raise LocaleError(message("unknown locale '%(locale)s'", locale=repr(text)))
    return _parse_locale(text.strip())


@lru_cache(maxsize=256)
def _parse_locale(text: str) -> str:
    if len(text) > _MAX_LOCALE_LEN or not _LOCALE_RE.fullmatch(text):
        raise LocaleError(message("unknown locale '%(locale)s'", locale=text[:_MAX_LOCALE_LEN]))
    try:
        return str(Locale.parse(text.replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError) as err:
        raise LocaleError(message("unknown locale '%(locale)s'", locale=text)) from err


@lru_cache(maxsize=256)
def _locale(text: str) -> Locale:
    """The cached Babel Locale for an identifier (shared with periods and progress)."""
    return Locale.parse(parse_locale(text))


@lru_cache(maxsize=1024)
def _pattern(locale: str, digits: int, english: bool) -> NumberPattern:
    loc = _locale(locale)
    base: NumberPattern = loc.decimal_formats[None] if english else loc.currency_formats["standard"]
    pattern = copy.copy(base)
    pattern.frac_prec = (digits, digits)
    return pattern


def format_money(minor: int, currency: str, locale: str = "en") -> str:
    """Return the amount for display: "2,180 $" in English, CLDR's currency format elsewhere.

    Whole amounts show no decimals, others exactly the currency's digits. No-break spaces
    (U+00A0, U+202F) in Babel's output are replaced by plain spaces.
    """
    code = normalize_currency(currency)
    digits = exponent(code)
    loc = _locale(locale)
    shown = 0 if minor % 10**digits == 0 else digits
    value = Decimal(minor).scaleb(-digits, context=_EXACT)
    if loc.language == "en":
        # The reference look: the locale's grouping, a plain space, then the symbol.
        number = _pattern(locale, shown, True).apply(value, loc, currency_digits=False)
        text = f"{number} {get_currency_symbol(code, loc)}"
    else:
        text = _pattern(locale, shown, False).apply(
            value, loc, currency=code, currency_digits=False
        )
    return text.translate(_SPACES)


def validate_milestones(values: list[int]) -> list[int]:
    """Check milestone amounts in minor units; return them with 0 prepended if missing."""
    if not values:
        raise AmountError(_EMPTY_MILESTONES)
    for value in values:
        if not isinstance(value, int) or isinstance(value, bool):
            raise AmountError(message("milestones must be whole numbers of minor units"))
        if value < 0:
            raise AmountError(message("milestones must not be negative"))
        if value > MAX_MINOR:
            raise AmountError(
                message("milestones must be at most %(max)s minor units", max=MAX_MINOR)
            )
    result = list(values) if values[0] == 0 else [0, *values]
    if len(result) > MAX_MILESTONES:
        raise AmountError(_TOO_MANY_MILESTONES)
    if any(a >= b for a, b in zip(result, result[1:], strict=False)):
        raise AmountError(message("milestones must be strictly ascending"))
    if result[-1] <= 0:
        raise AmountError(message("the last milestone (the goal) must be greater than zero"))
    return result


def parse_milestones(text: str, currency: str) -> list[int]:
    """Parse "0,2500,5000" (major units) into minor units, with 0 first."""
    code = normalize_currency(currency)
    if not isinstance(text, str) or not text.strip():
        raise AmountError(_EMPTY_MILESTONES)
    if len(text) > _MAX_MILESTONES_LEN:
        raise AmountError(message("milestones are too long"))
    items = text.split(",")
    if len(items) > MAX_MILESTONES:
        raise AmountError(_TOO_MANY_MILESTONES)
    values: list[int] = []
    for position, item in enumerate(items, start=1):
        try:
            values.append(parse_amount(item, code, allow_zero=True))
        except AmountError as err:
            raise AmountError(
                message(
                    "milestone %(position)s ('%(given)s'): %(reason)s",
                    position=position,
                    given=item.strip()[:20],
                    reason=err.message,
                )
            ) from err
    return validate_milestones(values)
