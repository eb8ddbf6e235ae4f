"""A bounded hypothesis fuzz of every endpoint the hive documents: never a 5xx.

Operations come from the hive's own OpenAPI document, so an endpoint added
later is fuzzed too. Each request is a valid example body mutated (a field
dropped, replaced by arbitrary JSON, or one added), arbitrary JSON, or bytes
that are barely JSON at all, with arbitrary path and query values and any of
the credentials. ``GET /events`` is left out: it streams for as long as the
client stays. The hive runs in this process; hypothesis drives it from a
worker thread with a blocking client while the event loop serves.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.parse
from collections import Counter
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from keyforge_shared.protocol import headers as wire
from tests.hive.conftest import (
    ADMIN_HEADERS,
    NODE_HEADERS,
    SYSTEM_ASSETS,
    HivePair,
    node_headers,
    registration,
)
from tests.hive.jobs_support import create_job, job_spec, layout_keys, local_model, ready_node

EXAMPLES = 1000  # every operation reached: about 20 requests per operation of the schema
METHODS = ("get", "post", "put", "delete", "patch")
SKIPPED = {("get", "/events")}

# Text that passes a careless check and fails later: Unicode digits ("²".isdigit() is
# true, int("²") raises), NUL and lone surrogates (JSON allows them, Postgres does
# not), right-to-left marks, and numbers longer than any 64-bit integer.
HOSTILE_TEXT = ["²", "\u0661\u0662", "\uff11\uff12", "1²", "\x00", "a\x00b", "\ud800",
                "x\udfffy", "\u202e1\u200f", "9" * 20, "-1", "0.1.0123456789abcdef", "²:KC_Q",
                ""]  # fmt: skip
hostile_text = st.sampled_from(HOSTILE_TEXT) | st.text(max_size=30)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | hostile_text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
raw_bodies = st.sampled_from(
    [
        b"",
        b"{",
        b"NaN",
        b'{"score": NaN}',
        b"[" * 5000,
        b'"\\ud800"',
        b"1e999",
        b"\x00",
        b"\xff\xfe",
    ]
) | st.binary(max_size=64)
PATH_EXAMPLES = ["node-1", "ghost", "0" * 64, "..", ".", "%00", "a%2Fb", "vars/fleet/x",
                 "secrets/job/x/y"]  # fmt: skip
query_values = hostile_text | st.integers().map(str) | st.sampled_from(["", "true", "-1"])
# Headers as raw latin-1 bytes, as they are on the wire (a client's "²" is b"\xb2").
HOSTILE_HEADER_VALUES = [b"\xb2", b"\xd9\xa1", b"9" * 20, b"bytes=\xb2-", b"bytes=-1",
                         b"bytes=0-" + b"9" * 20, b'"\xb2"', b"W/\"1\"", b"*", b"\xb2-0", b"-",
                         b"\x7f", b"node-1", b"ghost", b"\xe2\x80\xae"]  # fmt: skip
FUZZED_HEADERS = ["Range", "If-Match", "If-None-Match", "If-Range", "Last-Event-ID",
                  wire.NODE_ID, wire.NODE_TOKEN, wire.NODE_SECRET, wire.ADMIN_SECRET]  # fmt: skip
header_values = st.sampled_from(HOSTILE_HEADER_VALUES) | st.binary(max_size=24).map(
    # What a client can put on the wire: no control bytes, no blanks at either end.
    lambda raw: bytes(b for b in raw if b >= 0x20 and b != 0x7F).strip(b" ")
)


def credentials() -> st.SearchStrategy[dict[str, str]]:
    """Mostly valid credentials (node-1's token once it is registered): the point is to
    get past authentication into each handler."""
    as_node_1 = node_headers("node-1")
    return st.sampled_from(
        [as_node_1, as_node_1, NODE_HEADERS, ADMIN_HEADERS, ADMIN_HEADERS, ADMIN_HEADERS, {},
         {wire.NODE_SECRET: "wrong"}, {wire.ADMIN_SECRET: NODE_HEADERS[wire.NODE_SECRET]},
         {**NODE_HEADERS, wire.NODE_TOKEN: "not-a-token"}]
    )  # fmt: skip


def example_bodies(job_id: str) -> dict[tuple[str, str], Any]:
    """Valid bodies (a result with its true score), for mutations to start from."""
    spec = job_spec()
    qwerty = layout_keys(SYSTEM_ASSETS, spec, "Qwerty")
    score = local_model(SYSTEM_ASSETS, spec).score(qwerty)
    return {
        ("post", "/jobs"): spec,
        ("post", "/results"): {"job_id": job_id, "layout": " ".join(qwerty), "score": score,
                               "node_id": "node-1", "lease_id": "0.1.0123456789abcdef"},
        ("post", "/score"): {"job_id": job_id, "layout": " ".join(qwerty)},
        ("post", "/submissions"): {"name": "fuzz", "layout": "KC_Q KC_W KC_E", "author": "me"},
        ("post", "/nodes/register"): registration("node-2"),
        ("post", "/nodes/{node_id}/heartbeat"): {"ips": 10.0, "temperature_c": 40.0},
        ("put", "/kv/{path}"): {"value": "v", "ttl": None},
    }  # fmt: skip


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="", errors="surrogatepass")


@st.composite
def mutated(draw: st.DrawFn, example: Any) -> Any:
    if not isinstance(example, dict) or not example or draw(st.integers(0, 4)) == 0:
        return draw(json_values)
    body = dict(example)
    key = draw(st.sampled_from(sorted(body)))
    action = draw(st.sampled_from(["drop", "replace", "add", "nest"]))
    if action == "drop":
        del body[key]
    elif action == "replace":
        body[key] = draw(json_values)
    elif action == "add":
        body[draw(st.text(max_size=12))] = draw(json_values)
    else:
        body[key] = draw(mutated(body[key]))
    return body


def fuzz(
    client: httpx.Client, operations: list[tuple[str, str, dict[str, Any]]], job_id: str
) -> Counter[tuple[str, str, int]]:
    """Returns how often each (method, path) answered each status."""
    examples = example_bodies(job_id)
    path_values = st.sampled_from([job_id, f"vars/job/{job_id}/k", *PATH_EXAMPLES]) | hostile_text
    seen: Counter[tuple[str, str, int]] = Counter()
    callers = credentials()
    # Operations drawn uniformly: hypothesis's own draws favour the early entries of a
    # list, and one of ~70 went unreached now and then (uniform: about once in 25 000 runs).
    uniform = st.randoms(use_true_random=True)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def one_request(data: st.DataObject) -> None:
        method, path, operation = data.draw(uniform).choice(operations)
        url = re.sub(
            r"\{(\w+)\}",
            lambda m: _quote(data.draw(path_values, label=m.group(1))),
            path,
        )
        params = {}
        for parameter in operation.get("parameters", []):
            name = parameter["name"]
            if parameter["in"] == "query" and name == "wait":
                params[name] = data.draw(st.sampled_from(["0", "0.05", "-1", "x", "1e9"]))
            elif parameter["in"] == "query" and data.draw(st.booleans()):
                params[name] = data.draw(query_values | st.just("node-1"))
        headers: dict[str, str | bytes] = dict(data.draw(callers))
        for name in data.draw(st.lists(st.sampled_from(FUZZED_HEADERS), max_size=3, unique=True)):
            headers[name] = data.draw(header_values, label=name)
        content: bytes | None = None
        if "requestBody" in operation:
            kind = data.draw(st.sampled_from(["mutated", "raw", "none"]))
            if kind == "mutated":
                body = data.draw(mutated(examples.get((method, path), {})))
                content = json.dumps(body).encode()
            elif kind == "raw":
                content = data.draw(raw_bodies)
            headers["Content-Type"] = data.draw(
                st.sampled_from(["application/json", "application/json", "text/plain"])
            )
        if params:  # lone surrogates go out as the bytes a broken client would send
            url += "?" + urllib.parse.urlencode(params, errors="surrogatepass")
        raw_headers = [
            (k.encode(), v if isinstance(v, bytes) else v.encode()) for k, v in headers.items()
        ]
        response = client.request(method, url, headers=raw_headers, content=content)
        seen[method, path, response.status_code] += 1
        assert response.status_code < 500, (method, url, params, content, response.text)

    one_request()
    return seen


async def test_no_endpoint_answers_5xx_to_anything(
    hives: HivePair, system_assets: set[str]
) -> None:
    schema = (await hives.a.get("/openapi.json")).json()
    operations = [
        (method, path, operation)
        for path, item in sorted(schema["paths"].items())
        for method, operation in sorted(item.items())
        if method in METHODS and (method, path) not in SKIPPED
    ]
    assert {("post", "/jobs"), ("post", "/results"), ("get", "/jobs/queue")} <= {
        (m, p) for m, p, _ in operations
    }
    job_id = await create_job(hives.a, job_spec())
    await ready_node(hives.a, "node-1")
    with httpx.Client(base_url=str(hives.a.base_url), timeout=30) as client:
        seen = await asyncio.to_thread(fuzz, client, operations, job_id)
    print(
        "fuzzed:", ", ".join(f"{m.upper()} {p} {s}: {n}" for (m, p, s), n in sorted(seen.items()))
    )
    # Every operation was reached, and most got past authentication at least once.
    assert {(m, p) for m, p, _ in seen} == {(m, p) for m, p, _ in operations}
    assert (await hives.a.get("/health")).status_code == 200
