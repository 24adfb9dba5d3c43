"""Decoding an API request body ourselves, so that bad bytes, bad JSON, deep nesting and lone
surrogates get precise 400s in OpenAI's envelope (never a 500)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request

from causerie.api.schemas import SamplingRequest
from causerie.errors import InvalidRequestError

Body = TypeVar("Body", bound=SamplingRequest)


def has_lone_surrogate(payload: object) -> bool:
    """Whether a decoded body holds a surrogate that no pair completed (JSON allows the escape)."""
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


async def parse_body(request: Request, kind: type[Body]) -> Body:
    """A request of ``kind``, decoded by ``json_object``; what it does not support: 400."""
    body = kind.model_validate(await json_object(request))
    body.check_supported()
    return body


async def json_object(request: Request) -> dict[str, Any]:
    """The request's body, a JSON object, or a 400 that says what is wrong with it."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(
            f"The request body is not valid UTF-8 (byte {exc.start})."
        ) from exc
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(
            f"The request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from exc
    except RecursionError as exc:
        raise InvalidRequestError("The request body is nested too deeply.") from exc
    if ("\\ud" in text or "\\uD" in text) and has_lone_surrogate(payload):
        raise InvalidRequestError(
            "The request body holds a lone UTF-16 surrogate escape (\\ud800-\\udfff), "
            "which is not a character."
        )
    if not isinstance(payload, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    return payload
