from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyforge_shared.keys import PLANES, Keys, build_key, parse_key

# Separators, digits and the prefix itself are exactly what could confuse a naive join.
tricky_text = st.text(alphabet=st.sampled_from(":0123456789ab-{}*\\ é\x00"), max_size=12) | st.text(
    max_size=40
)
parts = st.lists(tricky_text, max_size=4)
planes = st.sampled_from(PLANES)
names = st.sampled_from(["hb", "live", "profile-lock", "manifest", "chunk", "log"])


@given(planes, names, parts)
def test_parse_inverts_build(plane: str, name: str, values: list[str]) -> None:
    key = build_key("kf:", plane, name, *values)  # type: ignore[arg-type]
    assert parse_key("kf:", key) == (plane, name, tuple(values))


inputs = st.tuples(planes, names, parts)


@given(inputs, inputs)
def test_distinct_inputs_never_share_a_key(
    a: tuple[str, str, list[str]], b: tuple[str, str, list[str]]
) -> None:
    key_a = build_key("kf:", a[0], a[1], *a[2])  # type: ignore[arg-type]
    key_b = build_key("kf:", b[0], b[1], *b[2])  # type: ignore[arg-type]
    assert (key_a == key_b) == (a == b)


@given(tricky_text, tricky_text)
def test_node_heartbeat_keys_are_injective(node_a: str, node_b: str) -> None:
    keys = Keys()
    assert (keys.heartbeat(node_a) == keys.heartbeat(node_b)) == (node_a == node_b)


def test_known_collision_of_a_naive_join_is_avoided() -> None:
    keys = Keys()
    # With a plain ':'.join these two would both be "kf:asset:chunk:a:1:2".
    assert keys.asset_chunk("a:1", 2) != build_key("kf:", "asset", "chunk", "a", "1:2")


def test_prefix_keeps_fleets_apart() -> None:
    assert Keys("kf:").heartbeat("n1") != Keys("kf2:").heartbeat("n1")
    assert Keys("blue:").heartbeat("n1").startswith("blue:fleet:")


@pytest.mark.parametrize("bad_name", ["", "has:colon", "space d", "star*"])
def test_names_are_fixed_identifiers(bad_name: str) -> None:
    with pytest.raises(ValueError, match="identifiers"):
        build_key("kf:", "fleet", bad_name)


@pytest.mark.parametrize(
    "foreign",
    [
        "other:fleet:hb:1:a",
        "kf:nope:hb",
        "kf:fleet:hb:9:short",
        "kf:fleet:hb:x:a",
        "kf:fleet:hb:1:ab",
    ],
)
def test_foreign_keys_do_not_parse(foreign: str) -> None:
    with pytest.raises(ValueError, match=r"prefix|plane|length|separator"):
        parse_key("kf:", foreign)


@given(st.lists(tricky_text, max_size=5))
def test_bulk_heartbeat_keys_match_the_single_builder(node_ids: list[str]) -> None:
    keys = Keys()
    assert keys.heartbeats(node_ids) == [keys.heartbeat(n) for n in node_ids]
