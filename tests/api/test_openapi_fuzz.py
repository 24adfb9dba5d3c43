"""schemathesis against Causerie's own OpenAPI document, on a real server with accounts: for
generated requests to every documented operation, no 5xx, every status documented, every body
matching its schema. Generated chat requests are kept short (``max_tokens`` at most 4, no
streaming) so the real model answers them quickly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Server, sqlite_server_with
from tests.helpers import accounts_for

pytestmark = pytest.mark.slow  # servers of its own (conftest.py: two tiers)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory, model_dir: Any) -> Iterator[Server]:
    yield from sqlite_server_with(tmp_path_factory.mktemp("fuzz"), model_dir)


@pytest.fixture(scope="module")
def api_key(fuzz_server: Server) -> str:
    database, accounts = accounts_for(fuzz_server)
    admin = accounts.create_user("cli", "root", "root-password", role="admin")
    _, key = accounts.credentials.create_key(admin.id, "fuzz")
    database.dispose()
    return key


@schemathesis.hook
def map_body(context: Any, body: Any) -> Any:
    """Short, non-streamed replies: the point is the envelope, not the prose."""
    if isinstance(body, dict):
        body = dict(body)
        if isinstance(body.get("max_tokens"), int):
            body["max_tokens"] = max(1, min(body["max_tokens"], 4))
        else:
            body["max_tokens"] = 4
        body.pop("max_completion_tokens", None)
        body["stream"] = False
    return body


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_the_api_keeps_its_own_contract(fuzz_server: Server, api_key: str) -> None:
    # Loaded in the test (schemathesis' lazy pytest loader does not support this pytest).
    headers = {"Authorization": f"Bearer {api_key}"}  # closed to anonymous clients
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json", headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /v1/chat/completions",
        "GET /v1/models",
        "GET /v1/models/{model_id}",
    }
    statuses: list[int] = []
    bodies: set[str] = set()  # the operations a generated body was sent to
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            statuses.append(response.status_code)
            if isinstance(case.body, dict) and case.body:
                bodies.add(f"{case.method.upper()} {case.path}")

        check()
    # both sides were explored: accepted requests and refused ones
    assert len(statuses) >= 40 and {200, 400, 404} <= set(statuses), sorted(set(statuses))
    # request bodies were generated from the documented schemas (a schema whose references do
    # not resolve from the document's root gave none)
    assert {"POST /v1/chat/completions", "POST /v1/completions", "POST /v1/responses"} <= bodies
