"""Tool calls from a model without a tool template: a grammar makes the reply one call.

When a request requires a call, the local model's sampling is constrained by a llama.cpp GBNF
grammar to exactly ``{"name": "<one of the tools>", "arguments": <an object matching that
tool's parameters schema>}`` (the schema part comes from llama-cpp-python's JSON-schema
converter). ``ToolCallReader`` turns that text, while it streams, into OpenAI-style tool-call
pieces: the name as soon as it is known, then the arguments as they grow.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Sequence
from typing import Any

from llama_cpp.llama_grammar import SchemaConverter

from causerie.types import ToolCall, ToolCallChunk, ToolSpec

CALL_PREFIX = '{"name": "'
ARGUMENTS_KEY = '", "arguments": '
NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}
# The converter writes a bounded repetition out in full and llama.cpp parses it recursively:
# past these sizes a schema is refused rather than enforced.
MAX_REPEAT = 1000
MAX_GRAMMAR = 256 * 1024
REPEATS = ("minLength", "maxLength", "minItems", "maxItems")
# The end of the text so far that may still be the arguments' closing brace followed by the
# call's own: held back until more text shows which it is.
CLOSING = re.compile(r"\s*\}?\s*$")


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def call_text(call: ToolCall) -> str:
    """A past call written the way the grammar makes the model write one (for prompts)."""
    try:
        arguments = json.dumps(json.loads(call.arguments), ensure_ascii=False)
    except json.JSONDecodeError:
        arguments = json.dumps(call.arguments, ensure_ascii=False)
    return f"{CALL_PREFIX}{call.name}{ARGUMENTS_KEY}{arguments}}}"


def tool_call_grammar(tools: Sequence[ToolSpec]) -> str:
    """The GBNF of one call to one of ``tools`` (raises ValueError for a schema it cannot
    express)."""
    if not tools:
        raise ValueError("a tool-call grammar needs at least one tool")
    converter = SchemaConverter(  # type: ignore[no-untyped-call]
        prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False
    )
    choices = []
    for index, tool in enumerate(tools):
        schema = copy.deepcopy(tool.parameters) if tool.parameters else dict(NO_PARAMETERS)
        schema.setdefault("type", "object")
        if largest_repeat(schema) > MAX_REPEAT:
            raise ValueError(f"`{tool.name}` repeats more than {MAX_REPEAT} times")
        check_patterns(schema, tool.name)
        try:
            resolved = converter.resolve_refs(schema, f"tool-{index}")
            arguments = converter.visit(resolved, f"tool-{index}-arguments")  # type: ignore[no-untyped-call]
        except Exception as exc:  # whatever the converter cannot handle, we cannot enforce
            raise ValueError(f"the parameters of `{tool.name}` cannot be enforced: {exc}") from exc
        choices.append(f"{gbnf_literal(tool.name + ARGUMENTS_KEY)} {arguments}")
    root = f'{gbnf_literal(CALL_PREFIX)} ( {" | ".join(choices)} ) "}}"'
    rules = converter.format_grammar()  # type: ignore[no-untyped-call]
    grammar = f"root ::= {root}\n{rules}\n"
    if len(grammar) > MAX_GRAMMAR:
        raise ValueError("the tools' parameters are too large to enforce")
    return grammar


def check_patterns(node: object, tool: str) -> None:
    """Every ``pattern`` in a schema must be a regular expression that compiles (Python's ``re``
    refuses what the grammar converter would turn into a class that matches nothing)."""
    if isinstance(node, list):
        for item in node:
            check_patterns(item, tool)
    elif isinstance(node, dict):
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"the pattern {pattern!r} in `{tool}` is not a valid regular expression: {exc}"
                ) from exc
        for value in node.values():
            check_patterns(value, tool)


def largest_repeat(node: object) -> int:
    """The largest length or item count a schema asks for, anywhere in it."""
    if isinstance(node, list):
        return max((largest_repeat(item) for item in node), default=0)
    if not isinstance(node, dict):
        return 0
    own = [v for k, v in node.items() if k in REPEATS and isinstance(v, int)]
    return max([*own, *(largest_repeat(v) for v in node.values())], default=0)


def tools_preamble(tools: Sequence[ToolSpec]) -> str:
    """A system message that tells the model which functions it can call, and how."""
    lines = [
        "The Assistant answers by calling one of these functions. It replies with only a JSON "
        'object: {"name": <the function name>, "arguments": <an object of its arguments>}.',
        "",
        "Functions:",
    ]
    for tool in tools:
        description = f": {tool.description.strip()}" if tool.description.strip() else ""
        schema = json.dumps(tool.parameters or NO_PARAMETERS, ensure_ascii=False)
        lines.append(f"- {tool.name}{description}\n  Parameters (JSON schema): {schema}")
    return "\n".join(lines)


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


class ToolCallReader:
    """Reads the text the grammar allows and yields the pieces of call 0 as they stream."""

    def __init__(self) -> None:
        self._buffer = ""
        self._name: str | None = None
        self._start = 0  # where the arguments begin in the buffer
        self._sent = 0  # characters of the arguments already given out
        self.id = new_call_id()

    @property
    def started(self) -> bool:
        """Whether the function's name is known (a call has begun)."""
        return self._name is not None

    def feed(self, text: str) -> list[ToolCallChunk]:
        self._buffer += text
        head = self._head()
        arguments = self._buffer[self._start :] if self.started else ""
        held = CLOSING.search(arguments)
        cut = held.start() if held else len(arguments)
        return self._pieces(head, arguments[self._sent : cut])

    def finish(self, complete: bool) -> list[ToolCallChunk]:
        """The rest once generation ended: ``complete`` when the grammar was satisfied (the
        call's closing brace is then dropped), else the arguments as far as they got."""
        head = self._head()
        if not self.started:
            return []
        arguments = self._buffer[self._start :].rstrip()
        if complete and arguments.endswith("}"):
            arguments = arguments[:-1].rstrip()
        return self._pieces(head, arguments[self._sent :])

    def _head(self) -> bool:
        """Find the name once the buffer holds it; True the one time it is found."""
        if self.started or not self._buffer.startswith(CALL_PREFIX):
            return False
        end = self._buffer.find(ARGUMENTS_KEY, len(CALL_PREFIX))
        if end < 0:
            return False
        self._name = self._buffer[len(CALL_PREFIX) : end]
        self._start = end + len(ARGUMENTS_KEY)
        return True

    def _pieces(self, head: bool, arguments: str) -> list[ToolCallChunk]:
        self._sent += len(arguments)
        if head:
            return [ToolCallChunk(0, self.id, self._name, arguments)]
        return [ToolCallChunk(0, arguments=arguments)] if arguments else []
