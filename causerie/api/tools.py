"""Wire models of OpenAI function calling: tool definitions, ``tool_choice``, the tool calls of
assistant messages (in requests, responses and stream chunks), and the checks that turn a bad
definition into a clear 400 before any model sees it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from causerie.errors import InvalidRequestError
from causerie.types import ToolCall, ToolChoiceMode, ToolSpec, ToolUse

FunctionName = Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}
SUBSCHEMA = ("items", "additionalProperties", "not", "contains", "propertyNames", "if", "then")
SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions")
MAX_DEPTH = 32  # schemas nested deeper are refused
COUNTS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")


class FunctionDefinition(BaseModel):
    name: FunctionName
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDefinition(BaseModel):
    type: Literal["function"]
    function: FunctionDefinition


class ChosenFunction(BaseModel):
    name: FunctionName


class NamedToolChoice(BaseModel):
    type: Literal["function"]
    function: ChosenFunction


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class FunctionCall(BaseModel):
    name: str
    arguments: str


class ToolCallIn(BaseModel):
    """A call in an assistant message of the history (sent back as it was received)."""

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall

    def to_call(self) -> ToolCall:
        return ToolCall(self.id, self.function.name, self.function.arguments)


class ToolCallOut(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall

    @classmethod
    def of(cls, call: ToolCall) -> ToolCallOut:
        return cls(id=call.id, function=FunctionCall(name=call.name, arguments=call.arguments))


class ChunkFunction(BaseModel):
    name: str | None = None
    arguments: str | None = None


class ChunkToolCall(BaseModel):
    """A piece of a streamed call: only its first piece has ``id``, ``type`` and the name."""

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: ChunkFunction


def schema_problem(schema: object, where: str, depth: int = 0) -> str | None:
    """What makes ``schema`` an invalid JSON schema (its common keywords only), or None."""
    if depth > MAX_DEPTH:
        return f"{where} is nested more than {MAX_DEPTH} levels deep"
    if isinstance(schema, bool):
        return None
    if not isinstance(schema, dict):
        return f"{where} must be a JSON schema object"
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    if (not kinds and kind is not None) or any(k not in JSON_TYPES for k in kinds):
        return f"{where}.type must be one of {', '.join(sorted(JSON_TYPES))}"
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        return f"{where}.required must be a list of property names"
    if "enum" in schema and not isinstance(schema["enum"], list):
        return f"{where}.enum must be a list"
    for key in COUNTS:
        value = schema.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return f"{where}.{key} must be a non-negative integer"
    for key in BOUNDS:
        value = schema.get(key, 0)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return f"{where}.{key} must be a number"
    children: list[tuple[object, str]] = []
    for key in SUBSCHEMA:
        if key in schema:
            value = schema[key]
            if key == "items" and isinstance(value, list):  # draft 4 tuples
                children += [(s, f"{where}.items[{i}]") for i, s in enumerate(value)]
            else:
                children.append((value, f"{where}.{key}"))
    for key in SUBSCHEMA_LISTS:
        if key in schema:
            if not isinstance(schema[key], list) or not schema[key]:
                return f"{where}.{key} must be a non-empty list of schemas"
            children += [(s, f"{where}.{key}[{i}]") for i, s in enumerate(schema[key])]
    for key in SUBSCHEMA_MAPS:
        if key in schema:
            if not isinstance(schema[key], dict):
                return f"{where}.{key} must be an object of schemas"
            children += [(s, f"{where}.{key}.{name}") for name, s in schema[key].items()]
    for child, path in children:
        problem = schema_problem(child, path, depth + 1)
        if problem:
            return problem
    return None


def tool_use(
    tools: list[ToolDefinition] | None,
    choice: ToolChoice | None,
    parallel_tool_calls: bool | None,
) -> ToolUse | None:
    """The request's tools as the providers take them; a bad definition is a 400."""
    if not tools:
        if choice is not None and choice not in ("none", "auto"):
            raise InvalidRequestError(
                "Invalid value for 'tool_choice': a tool choice needs 'tools'.",
                param="tool_choice",
            )
        return None
    specs: list[ToolSpec] = []
    for index, tool in enumerate(tools):
        function = tool.function
        where = f"tools[{index}].function.parameters"
        if function.parameters is not None:
            problem = schema_problem(function.parameters, where)
            if problem is None and function.parameters.get("type", "object") != "object":
                problem = f"{where} must describe an object (type 'object')"
            if problem:
                raise InvalidRequestError(
                    f"Invalid schema for function '{function.name}': {problem}.", param=where
                )
        if any(spec.name == function.name for spec in specs):
            raise InvalidRequestError(
                f"Two tools are named '{function.name}'.", param=f"tools[{index}].function.name"
            )
        specs.append(
            ToolSpec(
                function.name, function.description or "", function.parameters, function.strict
            )
        )
    mode: ToolChoiceMode = "auto"
    named: str | None = None
    if isinstance(choice, NamedToolChoice):
        mode, named = "function", choice.function.name
        if not any(spec.name == named for spec in specs):
            raise InvalidRequestError(
                f"Invalid value for 'tool_choice': no tool is named '{named}'.",
                param="tool_choice",
            )
    elif choice is not None:
        mode = choice
    return ToolUse(tuple(specs), mode, named, parallel_tool_calls)
