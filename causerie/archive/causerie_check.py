"""Causerie's archive checked against the JSON Schema it ships with
(``causerie-archive.schema.json``): the manifest whole, each conversation member against
``$defs/conversation``. What is wrong is told in a sentence a person can act on (where, and
what), never a Python error.

Fields the schema does not name are let through (its ``additionalProperties: false`` are left
out here): a newer Causerie may add optional fields without changing the format's version, and
an older one reads such an archive, ignoring them. The exports themselves are checked against
the strict schema by the tests.

The checks run through ``jsonschema_rs``: about a hundred times faster than the pure-Python
``jsonschema`` (0.7 ms instead of 90 ms for a conversation of 1,000 messages), which matters
because every conversation of an archive is checked when it is opened.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs

from causerie.archive.causerie_zip import schema

__all__ = ["ArchiveSchema"]

_MESSAGE_MAX = 160


class ArchiveSchema:
    """The shipped schema's two checks; ``problem`` methods return None for a valid
    document, else what is wrong with it."""

    def __init__(self) -> None:
        shipped = _lenient(schema())
        self._manifest = jsonschema_rs.Draft202012Validator(shipped)
        self._conversation = jsonschema_rs.Draft202012Validator(
            {"$defs": shipped["$defs"], "$ref": "#/$defs/conversation"}
        )

    def manifest_problem(self, document: Any) -> str | None:
        return _problem(self._manifest, document)

    def conversation_problem(self, document: Any) -> str | None:
        return _problem(self._conversation, document)


def _problem(validator: jsonschema_rs.Validator, document: Any) -> str | None:
    if validator.is_valid(document):
        return None
    error = next(iter(validator.iter_errors(document)))
    where = "".join(
        f"[{step}]" if isinstance(step, int) else f".{step}" for step in error.instance_path
    ).lstrip(".")
    message = error.message
    if len(message) > _MESSAGE_MAX:
        message = message[: _MESSAGE_MAX - 1] + "…"
    return f"{where}: {message}" if where else message


def _lenient(node: Any) -> Any:
    """The schema without its ``additionalProperties: false`` (a schema given there stays)."""
    if isinstance(node, dict):
        return {
            name: _lenient(value)
            for name, value in node.items()
            if not (name == "additionalProperties" and value is False)
        }
    if isinstance(node, list):
        return [_lenient(value) for value in node]
    return node
