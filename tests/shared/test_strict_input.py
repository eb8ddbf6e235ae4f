"""The one digit parser and the storable-text check."""

from __future__ import annotations

import pytest

from keyforge_shared.strict_input import parse_uint, storable_json, storable_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0), ("42", 42), (b"42", 42), ("9" * 18, 10**18 - 1)],
)
def test_parses_ascii_digits(text: str | bytes, expected: int) -> None:
    assert parse_uint(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "²",
        "1²",
        "\u0661",
        "\u0663\u0664",
        "\uff11\uff12",
        " 1",
        "1 ",
        "+1",
        "-1",
        "1_000",
        "1.0",
        "9" * 19,
        b"\xb2",
    ],
)
def test_refuses_everything_else(text: str | bytes) -> None:
    assert "²".isdigit()  # why str.isdigit() is not the test
    assert parse_uint(text) is None


def test_max_digits_bounds_the_length() -> None:
    assert parse_uint("1234", max_digits=3) is None
    assert parse_uint("123", max_digits=3) == 123


@pytest.mark.parametrize("text", ["a\x00b", "\ud800", "x\udfffy"])
def test_unstorable_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"NUL|surrogate"):
        storable_text(text)
    with pytest.raises(ValueError, match=r"spec\.a\[1\]"):
        storable_json({"a": ["ok", text]}, where="spec")
    with pytest.raises(ValueError, match="key"):
        storable_json({text: 1})


def test_storable_text_passes_unicode() -> None:
    text = "Ryzen \u200f\u202e ½ 😀"
    assert storable_text(text) == text
    storable_json({"k": [text, 1, None, {"n": text}]})
