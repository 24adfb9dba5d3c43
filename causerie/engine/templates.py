"""Chat templates: how a list of messages becomes the prompt text a model was trained on.

Resolution order (``resolve_template``):
1. the GGUF's own ``tokenizer.chat_template``, rendered in a sandboxed Jinja2 environment;
2. a built-in template for the model family (Gemma, ChatML/Qwen, Llama 3) of an instruction-tuned
   model;
3. for a base model with no template, a plain "User:/Assistant:" dialogue with a short few-shot
   preamble, which makes a base model such as the bundled Gemma 3 270M answer simple questions.

Tool calls and tool results reach every template as plain turns (``plain_turns``): an
assistant's calls are written as the JSON the tool-call grammar produces, a result becomes a
user turn naming the function, and consecutive turns of one role are merged (templates that
insist on alternating roles accept the history).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

from causerie.engine.grammar import call_text
from causerie.errors import ConfigurationError, InvalidRequestError
from causerie.types import Message


@dataclass(frozen=True)
class ChatTemplate:
    """Renders messages (ending with the generation prompt) and names the stop strings."""

    name: str
    render: Callable[[Sequence[Message]], str]
    stop: tuple[str, ...] = ()

    def prompt(self, messages: Sequence[Message]) -> str:
        """The prompt text of a history that may hold tool calls and tool results."""
        return self.render(plain_turns(messages))


def plain_turns(messages: Sequence[Message]) -> list[Message]:
    """Tool calls and results as ordinary turns (see the module docstring)."""
    names = {call.id: call.name for m in messages for call in m.tool_calls}
    turns: list[Message] = []
    after_result = False  # the last turn holds a tool result
    for message in messages:
        text = message.content
        role = message.role
        if role == "tool":
            name = names.get(message.tool_call_id or "", "the function")
            role, text = "user", f"Result of {name}: {message.content}"
        elif message.tool_calls:
            calls = "\n".join(call_text(call) for call in message.tool_calls)
            text = f"{message.content}\n{calls}" if message.content else calls
        result = message.role == "tool"
        if turns and turns[-1].role == role == "user" and (result or after_result):
            turns[-1] = Message("user", f"{turns[-1].content}\n\n{text}")
        else:
            turns.append(Message(role, text))
        after_result = result or (after_result and role == "user")
    return turns


# ---------------------------------------------------------------- 1. the GGUF's own Jinja template


def _raise(message: str) -> None:
    raise InvalidRequestError(f"the model's chat template refused the messages: {message}")


def _tojson(value: Any, indent: int | None = None, **_: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def jinja_template(source: str, *, bos: str, eos: str) -> ChatTemplate:
    """A template from GGUF metadata. The sandbox keeps a hostile template from reaching Python."""
    environment = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
    )
    environment.filters["tojson"] = _tojson
    environment.globals["raise_exception"] = _raise
    environment.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        compiled = environment.from_string(source)
    except TemplateError as exc:
        raise ConfigurationError(f"the model's chat template does not parse: {exc}") from exc

    def render(messages: Sequence[Message]) -> str:
        try:
            return compiled.render(
                messages=[{"role": m.role, "content": m.content} for m in messages],
                add_generation_prompt=True,
                bos_token=bos,
                eos_token=eos,
            )
        except InvalidRequestError:
            raise
        except Exception as exc:  # a SecurityError from the sandbox, or a template bug
            raise InvalidRequestError(f"the model's chat template failed: {exc}") from exc

    return ChatTemplate("gguf", render, (eos,) if eos else ())


# ---------------------------------------------------------------- 2. built-in family templates


def _merge_system(messages: Sequence[Message]) -> list[Message]:
    """Fold system messages into the first user turn (for templates without a system role)."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns = [m for m in messages if m.role != "system"]
    if system and turns and turns[0].role == "user":
        turns[0] = Message("user", f"{system}\n\n{turns[0].content}")
    elif system:
        turns.insert(0, Message("user", system))
    return turns


def _gemma(messages: Sequence[Message]) -> str:
    parts = []
    for message in _merge_system(messages):
        role = "model" if message.role == "assistant" else "user"
        parts.append(f"<start_of_turn>{role}\n{message.content}<end_of_turn>\n")
    return "".join(parts) + "<start_of_turn>model\n"


def _chatml(messages: Sequence[Message]) -> str:
    parts = [f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages]
    return "".join(parts) + "<|im_start|>assistant\n"


def _llama3(messages: Sequence[Message]) -> str:
    parts = [
        f"<|start_header_id|>{m.role}<|end_header_id|>\n\n{m.content}<|eot_id|>" for m in messages
    ]
    return "".join(parts) + "<|start_header_id|>assistant<|end_header_id|>\n\n"


BUILT_IN: dict[str, ChatTemplate] = {
    "gemma": ChatTemplate("gemma", _gemma, ("<end_of_turn>",)),
    "chatml": ChatTemplate("chatml", _chatml, ("<|im_end|>",)),
    "llama3": ChatTemplate("llama3", _llama3, ("<|eot_id|>",)),
}
FAMILY_TEMPLATES = {
    "gemma": "gemma",
    "gemma2": "gemma",
    "gemma3": "gemma",
    "gemma3n": "gemma",
    "qwen2": "chatml",
    "qwen3": "chatml",
    "qwen2moe": "chatml",
    "qwen3moe": "chatml",
    "llama": "llama3",
}


# ---------------------------------------------------------------- 3. dialogue framing for base models

DIALOGUE_PREAMBLE = (
    "A conversation between a User and a helpful, knowledgeable Assistant. "
    "The Assistant answers clearly, correctly and briefly.\n\n"
    "User: What is the capital of Italy?\n"
    "Assistant: The capital of Italy is Rome.\n\n"
    "User: How many legs does a spider have?\n"
    "Assistant: A spider has eight legs.\n\n"
)


def _dialogue(messages: Sequence[Message]) -> str:
    parts = [DIALOGUE_PREAMBLE]
    for message in messages:
        if message.role == "system":
            parts.append(f"{message.content.strip()}\n\n")
        elif message.role == "user":
            parts.append(f"User: {message.content.strip()}\n")
        else:
            parts.append(f"Assistant: {message.content.strip()}\n\n")
    if messages and messages[-1].role == "assistant":
        parts[-1] = parts[-1].rstrip("\n") + "\n\n"
    return "".join(parts) + "Assistant:"


DIALOGUE = ChatTemplate("dialogue", _dialogue, ("\nUser:", "\nAssistant:", "\n\n\n"))

INSTRUCT_MARKERS = ("it", "instruct", "chat", "sft", "dpo", "rlhf")


def is_instruction_tuned(metadata: Mapping[str, str]) -> bool:
    """Guess from the GGUF's names whether the model was tuned to follow chat turns."""
    names = " ".join(
        metadata.get(key, "") for key in ("general.finetune", "general.name", "general.basename")
    ).lower()
    words = set(names.replace("_", "-").replace(" ", "-").split("-"))
    return bool(words & set(INSTRUCT_MARKERS))


def resolve_template(metadata: Mapping[str, str], *, bos: str, eos: str) -> ChatTemplate:
    """Pick the chat template for a model from its GGUF metadata (see the module docstring)."""
    source = metadata.get("tokenizer.chat_template")
    if source:
        return jinja_template(source, bos=bos, eos=eos)
    family = FAMILY_TEMPLATES.get(metadata.get("general.architecture", ""))
    if family and is_instruction_tuned(metadata):
        return BUILT_IN[family]
    return DIALOGUE


def template_source(metadata: Mapping[str, str]) -> str:
    """Where ``resolve_template`` takes this model's template from, in words."""
    if metadata.get("tokenizer.chat_template"):
        return "the GGUF's own chat template (Jinja)"
    family = FAMILY_TEMPLATES.get(metadata.get("general.architecture", ""))
    if family and is_instruction_tuned(metadata):
        return f"Causerie's built-in {family} template (the GGUF has none)"
    return "dialogue framing for a base model (the GGUF has no chat template)"
