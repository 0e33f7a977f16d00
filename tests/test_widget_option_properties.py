"""Property test: widget options either parse to a valid WidgetOptions or are refused
with OptionError, for any query the internet can send."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from tracker.embeds import OptionError, WidgetOptions, parse_widget_options

keys = st.sampled_from(["theme", "accent", "lang", "Theme", "x", "", "accent "])
values = st.one_of(
    st.sampled_from(["light", "dark", "auto", "ff0066", "FF0066", "de", "de_DE", "en", ""]),
    st.text(max_size=40),
)


@given(st.lists(st.tuples(keys, values), max_size=4))
def test_options_parse_or_refuse(pairs) -> None:
    try:
        options = parse_widget_options(MultiDict(pairs))
    except OptionError as exc:
        assert str(exc)
        return
    assert isinstance(options, WidgetOptions)
    assert options.theme in {"light", "dark", "auto"}
    names = [name for name, _ in pairs]
    assert set(names) <= {"theme", "accent", "lang"}
    assert len(names) == len(set(names))
    hash(options)  # usable in a cache key
