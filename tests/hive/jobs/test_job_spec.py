"""The job id's canonical form, strict spec parsing and lease ids, without servers."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyforge_hive.jobs.leases import LeaseId
from keyforge_hive.jobs.spec import canonical_form, job_id_of, parse_spec_text
from keyforge_shared.formats import FormatError

specs = st.dictionaries(
    st.text(max_size=8),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=8,
    ),
    max_size=6,
)  # fmt: skip


@given(specs)
def test_formatting_and_key_order_never_change_the_id(spec: dict[str, object]) -> None:
    reordered = dict(reversed(list(spec.items())))
    indented = json.loads(json.dumps(spec, indent=2))
    assert job_id_of(reordered) == job_id_of(spec) == job_id_of(indented)


def test_the_documented_defaults_are_part_of_the_canonical_form() -> None:
    spec = {"corpus_name": "default", "weights": {"b": 1, "a": 2.5}}
    explicit = {**spec, "cost_matrix": "cost_matrix.csv", "pinned_keys": ""}
    assert job_id_of(spec) == job_id_of(explicit)
    assert job_id_of(spec) != job_id_of({**spec, "pinned_keys": "0:KC_A"})
    expected = '{"a":[1,2],"cost_matrix":"cost_matrix.csv","pinned_keys":"","é":1}'
    assert canonical_form({"é": 1, "a": [1, 2]}) == expected.encode("utf-8")


@pytest.mark.parametrize(
    "raw",
    [b"[1]", b'{"a": NaN}', b'{"a": -Infinity}', b'{"a": 1e400}', b'{"a": "\\u0000"}',
     b'{"\\udc00": 1}', b"\xff{}", b"{" * 100_000 + b"}" * 100_000],
)  # fmt: skip
def test_bodies_postgres_could_not_store_are_refused(raw: bytes) -> None:
    with pytest.raises(FormatError):
        parse_spec_text(raw)


def test_the_stored_text_is_the_body_as_sent() -> None:
    raw = '{ "b" : 1,\n  "a": [1.50, "é"] }'.encode()
    text, value = parse_spec_text(raw)
    assert text.encode() == raw
    assert value == {"b": 1, "a": [1.5, "é"]}


def test_lease_ids_round_trip_and_refuse_what_the_hive_never_issued() -> None:
    lease = LeaseId(3, 17, "0123456789abcdef")
    assert LeaseId.parse(str(lease)) == lease
    for bad in ("", "3.17", "x.1.0123456789abcdef", "3.17.short", "-1.2.0123456789abcdef"):
        with pytest.raises(FormatError):
            LeaseId.parse(bad)
