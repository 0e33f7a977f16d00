from decimal import Decimal

import pytest
from babel.numbers import get_currency_symbol
from hypothesis import given
from hypothesis import strategies as st
from iso4217 import Currency

from tracker.domain.money import (
    MAX_MINOR,
    AmountError,
    CurrencyError,
    currencies,
    exponent,
    format_major,
    format_money,
    normalize_currency,
    parse_amount,
    parse_locale,
    parse_milestones,
    validate_milestones,
)

# --- currencies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [("USD", "USD"), ("usd", "USD"), (" eur ", "EUR"), ("jpy", "JPY"), ("KWD", "KWD")],
)
def test_normalize_currency_accepts_active_codes(code: str, expected: str) -> None:
    assert normalize_currency(code) == expected


@pytest.mark.parametrize("code", ["XXX", "XTS", "DEM", "HRK", "US", "USDD", "", "   ", "$", "ÜSD"])
def test_normalize_currency_refuses_unknown_or_withdrawn(code: str) -> None:
    with pytest.raises(CurrencyError, match="unknown currency"):
        normalize_currency(code)


def test_currency_error_names_the_code() -> None:
    with pytest.raises(CurrencyError) as info:
        normalize_currency("xxx")
    assert str(info.value) == "unknown currency 'xxx'"
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("code", "digits"),
    [
        ("USD", 2),
        ("usd", 2),
        ("EUR", 2),
        ("BHD", 3),
        # ISO 4217's minor units where CLDR (locale data) has said otherwise in some release:
        ("HUF", 2),
        ("TWD", 2),
        ("ISK", 0),
        ("UGX", 0),
        ("JPY", 0),
        ("KWD", 3),
        ("CLF", 4),
        ("MGA", 2),
    ],
)
def test_exponent_is_iso_4217s(code: str, digits: int) -> None:
    assert exponent(code) == digits


def test_every_exponent_comes_from_the_iso_table() -> None:
    # The package that keeps ISO 4217's table is the only source; Babel (CLDR) is not asked.
    iso = {c.code: c.exponent for c in Currency if c.exponent is not None}
    assert {code: exponent(code) for code in currencies()} == iso


def test_exponent_does_not_ask_locale_data(monkeypatch: pytest.MonkeyPatch) -> None:
    import babel.numbers

    monkeypatch.setattr(babel.numbers, "get_currency_precision", lambda code: 7)
    assert exponent("HUF") == 2
    assert format_money(17500, "HUF") == "175 HUF"


def test_exponent_refuses_unknown_currency() -> None:
    with pytest.raises(CurrencyError):
        exponent("ABC")


# --- parse_amount ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.50", "USD", 1250),
        (" 12 ", "USD", 1200),
        ("12", "USD", 1200),
        ("1000", "USD", 100000),
        ("0.5", "USD", 50),
        ("1.50", "USD", 150),
        ("0.01", "USD", 1),
        ("007", "USD", 700),
        ("10000000000", "USD", MAX_MINOR),
        ("1000", "JPY", 1000),
        ("1", "JPY", 1),
        (str(MAX_MINOR), "JPY", MAX_MINOR),
        ("1.5", "KWD", 1500),
        ("1.500", "KWD", 1500),
        ("0.001", "KWD", 1),
        ("12.50", "usd", 1250),
        ("\t3\n", "EUR", 300),
    ],
)
def test_parse_amount_accepts_plain_decimals(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("", "USD", "amount is empty"),
        ("   ", "USD", "amount is empty"),
        ("0", "USD", "amount must be greater than zero"),
        ("0.00", "USD", "amount must be greater than zero"),
        ("0", "JPY", "amount must be greater than zero"),
        ("-1", "USD", "amount must be greater than zero"),
        ("-0.01", "USD", "amount must be greater than zero"),
        ("+1", "USD", "without a sign"),
        ("1e3", "USD", "exponent notation"),
        ("1E3", "USD", "exponent notation"),
        ("1.5e2", "USD", "exponent notation"),
        ("NaN", "USD", "finite"),
        ("nan", "USD", "finite"),
        ("inf", "USD", "finite"),
        ("Infinity", "USD", "finite"),
        ("1,000", "USD", "commas or thousands separators"),
        ("12,50", "EUR", "commas or thousands separators"),
        ("1.500", "USD", "USD allows at most 2 decimal places"),
        ("0.001", "USD", "USD allows at most 2 decimal places"),
        ("1.5", "JPY", "JPY allows no decimal places"),
        ("1.0", "JPY", "JPY allows no decimal places"),
        ("1.0001", "KWD", "KWD allows at most 3 decimal places"),
        ("10000000000.01", "USD", "amount must be at most 10000000000 USD"),
        (str(MAX_MINOR + 1), "JPY", "amount must be at most"),
        ("99999999999999999999999999999999999999", "USD", "amount must be at most"),
        ("1" * 41, "USD", "too long"),
        ("١٢", "USD", "not a plain decimal number like 12.50"),
        ("１２", "USD", "not a plain decimal number like 12.50"),
        ("12.", "USD", "not a plain decimal number"),
        (".5", "USD", "not a plain decimal number"),
        ("1 000", "USD", "not a plain decimal number"),
        ("12 USD", "USD", "not a plain decimal number"),
        ("$12", "USD", "not a plain decimal number"),
        ("1_000", "USD", "not a plain decimal number"),
        ("0x10", "USD", "not a plain decimal number"),
        ("1.2.3", "USD", "not a plain decimal number"),
        ("abc", "USD", "not a plain decimal number"),
    ],
)
def test_parse_amount_refuses(text: str, currency: str, message: str) -> None:
    with pytest.raises(AmountError, match=message):
        parse_amount(text, currency)


def test_amount_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="greater than zero"):
        parse_amount("0", "USD")


@pytest.mark.parametrize(("text", "currency"), [("0", "USD"), ("0.00", "USD"), ("0", "JPY")])
def test_parse_amount_allows_zero_when_asked(text: str, currency: str) -> None:
    assert parse_amount(text, currency, allow_zero=True) == 0


def test_parse_amount_still_refuses_negative_zero_when_zero_is_allowed() -> None:
    with pytest.raises(AmountError, match="greater than zero"):
        parse_amount("-0", "USD", allow_zero=True)


def test_parse_amount_refuses_unknown_currency() -> None:
    with pytest.raises(CurrencyError):
        parse_amount("12", "XXX")


# --- format_major ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1250, "USD", "12.50"),
        (1205, "USD", "12.05"),
        (1, "USD", "0.01"),
        (1200, "USD", "12"),
        (0, "USD", "0"),
        (1000, "JPY", "1000"),
        (1500, "KWD", "1.500"),
        (1, "KWD", "0.001"),
        (3000, "KWD", "3"),
        (MAX_MINOR, "USD", "10000000000"),
        (-1250, "USD", "-12.50"),
    ],
)
def test_format_major(minor: int, currency: str, text: str) -> None:
    assert format_major(minor, currency) == text


# --- format_money ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "locale", "text"),
    [
        (218000, "USD", "en", "2,180 $"),
        (0, "USD", "en", "0 $"),
        (250000, "USD", "en", "2,500 $"),
        (218050, "USD", "en", "2,180.50 $"),
        (218005, "USD", "en", "2,180.05 $"),
        (500000, "JPY", "en", "500,000 ¥"),
        (1500, "KWD", "en", "1.500 KWD"),
        (1000, "KWD", "en", "1 KWD"),
        (218000, "EUR", "en", "2,180 €"),
        (218000, "usd", "en", "2,180 $"),
        (218000, "USD", "en_US", "2,180 $"),
        (218000, "GBP", "en_GB", "2,180 £"),
        (100000000, "USD", "en", "1,000,000 $"),
        (218000, "USD", "de", "2.180 $"),
        (218050, "USD", "de", "2.180,50 $"),
        (218000, "EUR", "de_DE", "2.180 €"),
        (218050, "EUR", "fr", "2 180,50 €"),
        (218000, "EUR", "fr", "2 180 €"),
    ],
)
def test_format_money(minor: int, currency: str, locale: str, text: str) -> None:
    assert format_money(minor, currency, locale) == text


@pytest.mark.parametrize("locale", ["en", "de", "fr", "de_CH", "nl", "es", "ar", "ja"])
def test_format_money_has_no_no_break_spaces(locale: str) -> None:
    text = format_money(218050, "USD", locale)
    assert "\u00a0" not in text
    assert "\u202f" not in text


@pytest.mark.parametrize("locale", ["xx", "", "en_", "../en", "e" * 30, "C"])
def test_format_money_refuses_unknown_locale(locale: str) -> None:
    with pytest.raises(ValueError, match="unknown locale"):
        format_money(100, "USD", locale)


def test_format_money_refuses_unknown_currency() -> None:
    with pytest.raises(CurrencyError):
        format_money(100, "XXX")


# --- parse_locale ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("en", "en"),
        ("de", "de"),
        ("de_DE", "de_DE"),
        ("de-DE", "de_DE"),
        (" fr ", "fr"),
        ("en_GB", "en_GB"),
        ("pt-BR", "pt_BR"),
        ("zh_Hant_TW", "zh_Hant_TW"),
    ],
)
def test_parse_locale_normalises(text: str, expected: str) -> None:
    assert parse_locale(text) == expected


@pytest.mark.parametrize(
    "text",
    ["xx", "", "   ", "de_XX", "english", "12", "en US", "../../etc", "a" * 21, "en_" + "A" * 20],
)
def test_parse_locale_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="unknown locale"):
        parse_locale(text)


# --- milestones -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "currency", "expected"),
    [
        ("0,2500,5000", "USD", [0, 250000, 500000]),
        ("0, 2500 , 5000", "USD", [0, 250000, 500000]),
        ("2500,5000", "USD", [0, 250000, 500000]),
        ("5000", "USD", [0, 500000]),
        ("0.5,1", "USD", [0, 50, 100]),
        ("0,500000", "JPY", [0, 500000]),
        ("1.5,3", "KWD", [0, 1500, 3000]),
        (",".join(str(n) for n in range(20)), "JPY", list(range(20))),
        (",".join(str(n) for n in range(1, 20)), "JPY", list(range(20))),
    ],
)
def test_parse_milestones(text: str, currency: str, expected: list[int]) -> None:
    assert parse_milestones(text, currency) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "milestones are empty"),
        ("  ", "milestones are empty"),
        ("0", "must be greater than zero"),
        ("0,0", "strictly ascending"),
        ("0,5000,2500", "strictly ascending"),
        ("0,2500,2500", "strictly ascending"),
        ("0,,5000", "milestone 2"),
        ("0,-5,5000", "milestone 2"),
        ("0,1e3", "exponent notation"),
        ("0,2500.555", "at most 2 decimal places"),
        ("0,abc", "not a plain decimal"),
        (",".join(str(n) for n in range(21)), "at most 20 milestones"),
        (",".join(str(n) for n in range(1, 21)), "at most 20 milestones"),
        ("0,100000000000", "amount must be at most"),
    ],
)
def test_parse_milestones_refuses(text: str, message: str) -> None:
    with pytest.raises(AmountError, match=message):
        parse_milestones(text, "USD")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 250000, 500000], [0, 250000, 500000]),
        ([500000], [0, 500000]),
        ([1], [0, 1]),
        ([0, MAX_MINOR], [0, MAX_MINOR]),
    ],
)
def test_validate_milestones(values: list[int], expected: list[int]) -> None:
    assert validate_milestones(values) == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([], "milestones are empty"),
        ([0], "greater than zero"),
        ([0, 0], "strictly ascending"),
        ([0, 5, 3], "strictly ascending"),
        ([-1, 5], "not be negative"),
        ([0, MAX_MINOR + 1], "at most"),
        (list(range(21)), "at most 20 milestones"),
        ([0, 1.5], "whole numbers"),
        ([0, True], "whole numbers"),
    ],
)
def test_validate_milestones_refuses(values: list[int], message: str) -> None:
    with pytest.raises(AmountError, match=message):
        validate_milestones(values)


def test_validate_milestones_does_not_change_its_argument() -> None:
    values = [5]
    validate_milestones(values)
    assert values == [5]


# --- properties -----------------------------------------------------------------------------

CURRENCIES = sorted(currencies())  # every current ISO 4217 currency


@st.composite
def canonical_amounts(draw: st.DrawFn) -> tuple[str, str]:
    """A currency and an amount as format_major writes it: no leading zeros, no zero fraction."""
    currency = draw(st.sampled_from(CURRENCIES))
    digits = exponent(currency)
    minor = draw(st.integers(min_value=1, max_value=MAX_MINOR))
    whole, fraction = divmod(minor, 10**digits)
    text = str(whole) if fraction == 0 else f"{whole}.{fraction:0{digits}d}"
    return currency, text


@given(canonical_amounts())
def test_format_major_round_trips_parse_amount(case: tuple[str, str]) -> None:
    currency, text = case
    assert format_major(parse_amount(text, currency), currency) == text


@given(
    st.sampled_from(CURRENCIES),
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal(10**9), places=3),
)
def test_parse_amount_agrees_with_decimal(currency: str, value: Decimal) -> None:
    digits = exponent(currency)
    text = f"{value:.{digits}f}"
    minor = int(Decimal(text).scaleb(digits))
    if minor == 0 or minor > MAX_MINOR:  # CLF's four digits pass 10^12 below 10^9
        with pytest.raises(AmountError):
            parse_amount(text, currency)
    else:
        assert parse_amount(text, currency) == minor
        assert parse_amount(format_major(minor, currency), currency) == minor


@given(st.sampled_from(CURRENCIES), st.integers(min_value=1, max_value=MAX_MINOR))
def test_parse_amount_round_trips_format_major(currency: str, minor: int) -> None:
    assert parse_amount(format_major(minor, currency), currency) == minor


@given(st.text(max_size=30))
def test_parse_amount_only_ever_returns_positive_ints_or_amount_error(text: str) -> None:
    try:
        minor = parse_amount(text, "USD")
    except AmountError:
        return
    assert isinstance(minor, int)
    assert 1 <= minor <= MAX_MINOR


@given(st.sampled_from(CURRENCIES), st.integers(min_value=0, max_value=MAX_MINOR))
def test_format_money_in_english_is_number_space_symbol(currency: str, minor: int) -> None:
    text = format_money(minor, currency)
    symbol = get_currency_symbol(currency, "en").replace("\u202f", " ").replace("\u00a0", " ")
    assert symbol and text.endswith(" " + symbol)
    number = text[: -len(symbol) - 1]
    assert int(Decimal(number.replace(",", "")).scaleb(exponent(currency))) == minor
