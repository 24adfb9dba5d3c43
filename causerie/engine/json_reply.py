"""Structured replies on the local model: OpenAI's ``response_format`` as a grammar.

``{"type": "json_object"}`` constrains the reply to one JSON object; ``{"type": "json_schema"}``
to JSON valid against the given schema (llama-cpp-python's JSON-schema converter writes the
GBNF, as for tool calls). What the converter cannot enforce is refused by name before anything
runs (``unenforceable``): a keyword it would silently ignore (``minimum``, ``not``,
``patternProperties``...), a ``format`` it has no rule for, a ``$ref`` outside the schema. A
schema's annotations (``title``, ``description``, ``default``, ``examples``...) are allowed:
they describe, they do not constrain.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

from llama_cpp.llama_grammar import SchemaConverter

from causerie.engine.grammar import MAX_GRAMMAR, MAX_REPEAT, check_patterns, largest_repeat
from causerie.types import ReplyFormat

ANY_OBJECT: dict[str, Any] = {"type": "object"}
# Keywords the converter turns into grammar rules.
ENFORCED = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "pattern",
    "minLength",
    "maxLength",
    "format",
    "$ref",
    "$defs",
    "definitions",
}
# Keywords that describe and constrain nothing.
ANNOTATIONS = {
    "title",
    "description",
    "default",
    "examples",
    "$schema",
    "$id",
    "$comment",
    "deprecated",
    "readOnly",
    "writeOnly",
}
FORMATS = {"date", "time", "date-time", "uuid"}
# Keywords whose value is a map of names to schemas (the names are not keywords).
SCHEMA_MAPS = {"properties", "$defs", "definitions"}


def unenforceable(schema: object, path: str = "$") -> Iterator[str]:
    """Where ``schema`` asks for what the grammar cannot enforce, one line each
    (``minimum at $.properties.age``)."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        yield f"a schema that is not an object at {path}"
        return
    for key, value in schema.items():
        if key in ANNOTATIONS:
            continue
        if key not in ENFORCED:
            yield f"`{key}` at {path}"
        elif key == "format" and value not in FORMATS:
            yield f"`format: {value}` at {path}"
        elif key == "$ref" and not (isinstance(value, str) and value.startswith("#/")):
            yield f"`$ref` to {value!r} (outside the schema) at {path}"
        elif key in SCHEMA_MAPS and isinstance(value, dict):
            for name, child in value.items():
                yield from unenforceable(child, f"{path}.{key}.{name}")
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            yield from unenforceable(value, f"{path}.{key}")
        elif key in ("prefixItems", "anyOf", "oneOf", "allOf") and isinstance(value, list):
            for index, child in enumerate(value):
                yield from unenforceable(child, f"{path}.{key}[{index}]")


def reply_grammar(reply: ReplyFormat) -> str:
    """The GBNF of a reply in ``reply``'s format (raises ValueError, saying why, for a schema
    it cannot enforce)."""
    schema = copy.deepcopy(reply.schema) if reply.schema is not None else dict(ANY_OBJECT)
    problems = list(unenforceable(schema))
    if problems:
        raise ValueError("it uses what cannot be enforced: " + "; ".join(problems[:10]))
    if largest_repeat(schema) > MAX_REPEAT:
        raise ValueError(f"it repeats more than {MAX_REPEAT} times")
    check_patterns(schema, reply.name or "the schema")
    converter = SchemaConverter(  # type: ignore[no-untyped-call]
        prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False
    )
    try:
        resolved = converter.resolve_refs(schema, "reply")
        converter.visit(resolved, "")  # type: ignore[no-untyped-call]
    except Exception as exc:  # whatever the converter cannot handle, we cannot enforce
        raise ValueError(f"it cannot be enforced: {exc}") from exc
    grammar: str = converter.format_grammar()  # type: ignore[no-untyped-call]
    if len(grammar) > MAX_GRAMMAR:
        raise ValueError("it is too large to enforce")
    return grammar


def reply_preamble(reply: ReplyFormat) -> str:
    """A system message that tells the model the shape of its reply (the grammar holds it to
    it; the words help it fill the shape sensibly)."""
    if reply.schema is None:
        return "The Assistant replies with only a JSON object."
    schema = json.dumps(reply.schema, ensure_ascii=False)
    return f"The Assistant replies with only a JSON value that follows this JSON schema: {schema}"
