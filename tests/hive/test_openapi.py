"""The hive's OpenAPI document describes every answer: each operation's success and its errors."""

from __future__ import annotations

from typing import Any

import pytest

from keyforge_hive.app import create_app
from keyforge_shared.protocol.errors import ErrorBody, ValidationErrorBody
from tests.support import hive_settings

METHODS = {"get", "put", "post", "delete", "patch", "head"}
ERROR_REFS = {f"#/components/schemas/{m.__name__}" for m in (ErrorBody, ValidationErrorBody)}


def openapi_document() -> dict[str, Any]:
    # The document is built from the routes alone: no store is contacted.
    settings = hive_settings(
        database_url="postgresql://nobody@127.0.0.1:9/none", valkey_url="redis://127.0.0.1:9/0"
    )
    document: dict[str, Any] = create_app(settings).openapi()
    return document


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in sorted(document["paths"].items())
        for method, operation in sorted(item.items())
        if method in METHODS
    ]


def schemas_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [media.get("schema") or {} for media in response.get("content", {}).values()]


def problems_of(operation: dict[str, Any]) -> list[str]:
    responses: dict[str, dict[str, Any]] = operation.get("responses", {})
    problems = []
    successes = [status for status in responses if status.startswith("2")]
    if not successes:
        problems.append("no success answer")
    for status in successes:
        if status == "204":
            continue
        schemas = schemas_of(responses[status])
        if not schemas or not all(schemas):
            problems.append(f"{status} has no schema")
    # /livez and /metrics have no error answer: every other one is the envelope.
    for status in (status for status in responses if status[0] in "45"):
        refs = {schema.get("$ref") for schema in schemas_of(responses[status])}
        if not refs or not refs <= ERROR_REFS:
            problems.append(f"{status} is not the error envelope ({refs or 'no schema'})")
    return problems


def test_every_operation_documents_its_answer_and_its_errors() -> None:
    document = openapi_document()
    found = operations(document)
    assert ("POST", "/nodes/{node_id}/heartbeat") in {(m, p) for m, p, _ in found}
    assert ("POST", "/kv/gc") in {(m, p) for m, p, _ in found}
    missing = {
        f"{method} {path}": problems
        for method, path, operation in found
        if (problems := problems_of(operation))
    }
    assert missing == {}
    assert "HTTPValidationError" not in document["components"]["schemas"]


@pytest.mark.parametrize(
    ("operation", "problem"),
    [
        ({"responses": {"200": {"description": "ok"}, "401": {}}}, "200 has no schema"),
        (
            {"responses": {"200": {"content": {"application/json": {"schema": {}}}}}},
            "200 has no schema",
        ),
        ({"responses": {"401": {}}}, "no success answer"),
        (
            {
                "responses": {
                    "204": {},
                    "422": {
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/HTTPValidationError"}
                            }
                        }
                    },
                }
            },
            "422 is not the error envelope",
        ),
    ],
)
def test_the_walk_catches_an_undocumented_answer(operation: dict[str, Any], problem: str) -> None:
    assert any(p.startswith(problem) for p in problems_of(operation))
