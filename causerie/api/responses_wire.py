"""The wire format of OpenAI's Responses API (``/v1/responses``): the request, its input items
as chat messages, and the response object.

A request's ``input`` is a string (one user message) or a list of items: messages (``role``
and ``content``, a string or ``input_text``/``output_text`` parts), ``function_call`` items
(a call the model made earlier) and ``function_call_output`` items (its result). They become
the same ``Message`` turns a chat completion takes; the reply becomes output items: one
``message`` with its ``output_text``, or one ``function_call`` per call.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from causerie.api.tools import (
    FunctionDefinition,
    FunctionName,
    NamedToolChoice,
    ToolDefinition,
    tool_use,
)
from causerie.errors import InvalidRequestError, UnsupportedParameterError
from causerie.types import Message, ReplyFormat, ToolCall, ToolUse, Usage

OptionalFlag = Annotated[bool | None, Field(strict=True)]


class InputPart(BaseModel):
    type: Literal["input_text", "output_text", "text"]
    text: str


class InputItem(BaseModel):
    """One item of ``input``: a message, a function call, or a function call's output."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["message", "function_call", "function_call_output"] = "message"
    role: Literal["user", "assistant", "system", "developer"] | None = None
    content: str | list[InputPart] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class FunctionTool(BaseModel):
    type: Literal["function"]
    name: FunctionName
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ChosenTool(BaseModel):
    type: Literal["function"]
    name: FunctionName


class TextFormat(BaseModel):
    """``text.format``: free text, one JSON object, or JSON that follows a schema."""

    model_config = ConfigDict(populate_by_name=True)

    type: Literal["text", "json_object", "json_schema"] = "text"
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None
    schema_: Annotated[dict[str, Any] | None, Field(alias="schema")] = None
    strict: OptionalFlag = None
    description: str | None = None


class TextOptions(BaseModel):
    format: TextFormat = TextFormat()


class ResponseRequest(BaseModel):
    """``POST /v1/responses``. Unknown fields are ignored (docs/api.md lists them)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    model: str
    input: str | list[InputItem]
    instructions: str | None = None
    stream: Annotated[bool, Field(strict=True)] = False
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | ChosenTool | None = None
    parallel_tool_calls: OptionalFlag = None
    text: TextOptions | None = None
    max_output_tokens: Annotated[int | None, Field(ge=1, strict=True)] = None
    temperature: Annotated[float | None, Field(ge=0, le=2, strict=True)] = None
    top_p: Annotated[float | None, Field(gt=0, le=1, strict=True)] = None
    store: OptionalFlag = None  # None: as the API key says (stored, unless made with --no-store)
    previous_response_id: str | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None
    background: OptionalFlag = None

    def check_supported(self) -> None:
        if self.background:
            raise UnsupportedParameterError(
                "Background responses are not supported.", param="background"
            )
        if isinstance(self.input, list) and not self.input:
            raise InvalidRequestError("`input` must not be an empty list.", param="input")

    def messages(self) -> list[Message]:
        """The input items as chat turns (consecutive function calls: one assistant turn)."""
        if isinstance(self.input, str):
            return [Message("user", self.input)]
        turns: list[Message] = []
        for index, item in enumerate(self.input):
            where = f"input[{index}]"
            if item.type == "function_call":
                if not (item.call_id and item.name):
                    raise InvalidRequestError(
                        "A function_call item needs its `call_id` and `name`.", param=where
                    )
                call = ToolCall(item.call_id, item.name, item.arguments or "{}")
                if turns and turns[-1].role == "assistant" and turns[-1].tool_calls:
                    previous = turns.pop()
                    turns.append(Message("assistant", "", (*previous.tool_calls, call)))
                else:
                    turns.append(Message("assistant", "", (call,)))
            elif item.type == "function_call_output":
                if not item.call_id:
                    raise InvalidRequestError(
                        "A function_call_output item needs the `call_id` it answers.",
                        param=where,
                    )
                turns.append(Message("tool", item.output or "", tool_call_id=item.call_id))
            else:
                if item.role is None:
                    raise InvalidRequestError("A message item needs its `role`.", param=where)
                role = "system" if item.role == "developer" else item.role
                turns.append(Message(role, item.text()))
        return turns

    def tool_use(self) -> ToolUse | None:
        tools = [
            ToolDefinition(
                type="function",
                function=FunctionDefinition(
                    name=t.name,
                    description=t.description,
                    parameters=t.parameters,
                    strict=t.strict,
                ),
            )
            for t in self.tools or []
        ]
        choice = self.tool_choice
        if isinstance(choice, ChosenTool):
            named = NamedToolChoice.model_validate(
                {"type": "function", "function": {"name": choice.name}}
            )
            return tool_use(tools, named, self.parallel_tool_calls)
        return tool_use(tools, choice, self.parallel_tool_calls)

    def reply_format(self) -> ReplyFormat | None:
        form = self.text.format if self.text else None
        if form is None or form.type == "text":
            return None
        if form.type == "json_object":
            return ReplyFormat(wire={"type": "json_object"})
        if form.name is None:
            raise InvalidRequestError(
                "`text.format` of type json_schema needs its `name`.", param="text.format.name"
            )
        schema = form.schema_ if form.schema_ is not None else {}
        wire = {
            "type": "json_schema",
            "json_schema": {"name": form.name, "schema": schema, "strict": form.strict},
        }
        return ReplyFormat(schema, form.name, form.strict, wire)

    def text_options(self) -> dict[str, Any]:
        """``text`` as the response object echoes it."""
        form = self.text.format if self.text else TextFormat()
        return {"format": form.model_dump(mode="json", by_alias=True, exclude_none=True)}


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content if status == "completed" else [],
    }


def call_item(item_id: str, call: ToolCall, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call.id,
        "name": call.name,
        "arguments": call.arguments if status == "completed" else "",
    }


def usage_of(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def response_object(
    request: ResponseRequest,
    response_id: str,
    model: str,
    *,
    status: str,
    output: list[dict[str, Any]],
    usage: Usage | None = None,
    created_at: float | None = None,
    incomplete: str | None = None,
) -> dict[str, Any]:
    """The response object, in progress or ended (``incomplete``: why it was cut)."""
    tools = [
        {**tool.model_dump(mode="json", exclude_none=True), "strict": bool(tool.strict)}
        for tool in request.tools or []
    ]
    choice = request.tool_choice
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at if created_at is not None else time.time(),
        "status": status,
        "error": None,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "model": model,
        "output": output,
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "previous_response_id": request.previous_response_id,
        "store": request.store,
        "temperature": request.temperature,
        "text": request.text_options(),
        "tool_choice": choice.model_dump() if isinstance(choice, ChosenTool) else choice or "auto",
        "tools": tools,
        "top_p": request.top_p,
        "truncation": "disabled",
        "usage": usage_of(usage),
        "user": request.user,
        "metadata": request.metadata or {},
    }
