"""The one rule for what a client may call itself on the consent page."""

from __future__ import annotations

import pytest

from gistgate.oauth.names import client_name_problem


@pytest.mark.parametrize(
    "name",
    ["Claude Code", "Cursor", "VS Code (Insiders)", "Ünïcödé 日本語 app", "x" * 200],
)
def test_ordinary_names_are_shown(name):
    assert client_name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("\u202eppA laiciffO", "right-to-left override: the page would read 'Official App'"),
        ("Good\u2066App\u2069", "bidi isolates"),
        ("Zero\u200bwidth", "zero-width space (format)"),
        ("Line\nbreak", "control character"),
        ("Bell\x07", "control character"),
        ("Sep\u2028arator", "line separator"),
        ("Private\ue000use", "private use"),
        ("Lone\ud800surrogate", "lone surrogate"),
        ("   ", "blank"),
        ("", "empty"),
        ("x" * 201, "too long"),
        (42, "not a string"),
        (None, "not a string"),
    ],
)
def test_names_that_could_mislead_or_break_the_page_are_refused(name, why):
    assert client_name_problem(name), why
