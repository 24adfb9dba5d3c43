"""The in-process model: chat template -> tokens -> the continuous-batching engine.

Function calling: when a request requires a call (``tool_choice`` "required" or a named
function), the tools are described in a system preamble and a grammar makes the reply one call,
streamed as tool-call pieces with finish reason ``tool_calls``. With ``auto`` the model answers
in text (the bundled base model has no tool template to decide with); ``none`` ignores tools.

Structured replies (``response_format``): a reply that must be JSON is described in a system
preamble and held to its schema by a grammar (``engine/json_reply.py``); a schema the grammar
cannot enforce is a 400 that names what it cannot. A forced tool call takes precedence.

The legacy completions (``SamplingParams.raw_prompt``): the text is tokenized as it is, with no
chat template and none of its stop strings.

Several choices (``SamplingParams.n``) share the prompt's prefill in the engine, one sequence
each: at most as many as the engine decodes together (``parallel``); more is a 400.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from anyio import to_thread
from prometheus_client import CollectorRegistry

from causerie.config import Settings, machine_memory
from causerie.engine.client import EngineProcess
from causerie.engine.footprint import kv_cache_bytes
from causerie.engine.grammar import ToolCallReader, tool_call_grammar, tools_preamble
from causerie.engine.json_reply import reply_grammar, reply_preamble
from causerie.engine.metrics import EngineMetrics
from causerie.engine.model import LoadedModel, resolve_model_path
from causerie.engine.requests import EngineState, Generation, GenerationRequest
from causerie.engine.sampling import GrammarError, check_grammar
from causerie.engine.scheduler import EngineConfig, Scheduler
from causerie.engine.templates import ChatTemplate, resolve_template
from causerie.errors import ContextLengthExceededError, InvalidRequestError
from causerie.providers.parts import text_only
from causerie.types import (
    Delta,
    Message,
    ModelInfo,
    Redactions,
    ReplyFormat,
    SamplingParams,
    ToolSpec,
    TurnContext,
)


def text_tokens(model: LoadedModel, text: str, limit: int | None = None) -> list[int]:
    """``text``'s tokens, after the model's BOS unless the text starts with it."""
    bos = model.bos_text
    add_bos = model.adds_bos and not (bos and text.startswith(bos))
    return model.tokenize(text, add_bos=add_bos, limit=limit)


PARALLEL_CAP = 32  # sequences by default (measured: docs/benchmarks.md, adaptive parallelism);
# conversations beyond them keep their state in the host-memory state cache


def auto_parallel(metadata: dict[str, str], context_size: int, memory: int) -> int:
    """Sequences for the engine when the setting leaves it open: as many full-context KV caches
    as an eighth of the machine's ``memory`` holds, between 1 and ``PARALLEL_CAP``."""
    per_sequence = kv_cache_bytes(metadata, context_size)
    if per_sequence <= 0:
        return 4
    return max(1, min(PARALLEL_CAP, memory // 8 // per_sequence))


def engine_config(settings: Settings, metadata: dict[str, str]) -> EngineConfig:
    """The engine's configuration from the settings (and the model, for what they leave open)."""
    parallel = settings.parallel or auto_parallel(metadata, settings.context_size, machine_memory())
    return EngineConfig(
        context_size=settings.context_size,
        parallel=parallel,
        batch_size=settings.batch_size,
        prefill_chunk=settings.prefill_chunk,
        threads=settings.threads,
        max_waiting=settings.max_waiting,
        state_cache_bytes=settings.state_cache_bytes(),
    )


class LocalCompletion:
    """The engine's deltas; for a forced tool call, its text read as tool-call pieces (each
    choice's apart)."""

    def __init__(
        self, generation: Generation, prompt_tokens: int, *, tool_call: bool = False
    ) -> None:
        self._generation = generation
        self.prompt_tokens = prompt_tokens
        self.served_by: str | None = None  # the model id says it all
        self.redactions: Redactions | None = None  # nothing leaves the machine
        self.upstream_wait: float | None = None
        self._tool_call_reply = tool_call

    def __aiter__(self) -> AsyncIterator[Delta]:
        if not self._tool_call_reply:
            return self._generation.__aiter__()
        return self._tool_calls()

    async def _tool_calls(self) -> AsyncIterator[Delta]:
        readers: dict[int, ToolCallReader] = {}
        async for delta in self._generation:
            reader = readers.setdefault(delta.choice, ToolCallReader())
            pieces = reader.feed(delta.text)
            if delta.finish_reason is None:
                if pieces or delta.logprobs:
                    yield Delta(
                        tool_calls=tuple(pieces), choice=delta.choice, logprobs=delta.logprobs
                    )
                continue
            complete = delta.finish_reason == "stop"  # the grammar let the model end
            pieces += reader.finish(complete)
            reason = "tool_calls" if complete and reader.started else delta.finish_reason
            yield Delta(
                finish_reason=reason,
                usage=delta.usage,
                tool_calls=tuple(pieces),
                choice=delta.choice,
                logprobs=delta.logprobs,
            )

    def cancel(self) -> None:
        self._generation.cancel()


class Engine(Protocol):
    """What the provider needs of an engine: the in-process ``Scheduler`` (tests, benchmarks,
    ``CAUSERIE_ENGINE_PROCESS=0``) or ``EngineProcess`` (the default)."""

    config: EngineConfig

    @property
    def registry(self) -> CollectorRegistry: ...

    def submit(self, request: GenerationRequest, caller: str) -> Generation: ...

    def state(self) -> EngineState: ...

    def close(self) -> None: ...


class LocalProvider:
    """Serves one GGUF model through the engine: templates and tokens here, decoding there."""

    name = "local"

    def __init__(
        self,
        model: LoadedModel,
        template: ChatTemplate,
        engine: Engine,
        *,
        drop_parts: bool = False,
    ) -> None:
        self.model = model
        self.template = template
        self.engine = engine
        self.drop_parts = drop_parts  # images, sounds, files: a note each rather than a 400
        self._created = int(time.time())

    @classmethod
    def in_process(
        cls, model: LoadedModel, template: ChatTemplate, config: EngineConfig
    ) -> LocalProvider:
        """The scheduler on a thread of this process (``metrics`` then holds its counters)."""
        provider = cls(model, template, Scheduler(model, config, EngineMetrics()))
        return provider

    @property
    def metrics(self) -> EngineMetrics:
        """The in-process engine's metrics (tests read them directly)."""
        assert isinstance(self.engine, Scheduler), "only the in-process engine has them"
        return self.engine.metrics

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalProvider:
        """The configured model (``CAUSERIE_MODEL``, else the bundled one)."""
        return cls.load(
            resolve_model_path(settings.model, settings.resolved_models_dir()), settings
        )

    @classmethod
    def load(cls, path: Path, settings: Settings) -> LocalProvider:
        """The GGUF at ``path``, served by an engine as ``settings`` configure it."""
        if not settings.engine_process:
            model = LoadedModel(path, context_size=settings.context_size)
            template = resolve_template(model.metadata, bos=model.bos_text, eos=model.eos_text)
            config = engine_config(settings, model.metadata)
            provider = cls.in_process(model, template, config)
            provider.drop_parts = settings.drop_unsupported_parts
            return provider
        # The weights live in the engine process; this one needs the vocabulary and metadata
        # (which also size the engine), loaded first, then the child loads the model.
        model = LoadedModel(path, context_size=settings.context_size, vocab_only=True)
        template = resolve_template(model.metadata, bos=model.bos_text, eos=model.eos_text)
        engine = EngineProcess(path, settings.context_size, engine_config(settings, model.metadata))
        try:
            engine.wait_started()
        except BaseException:
            engine.close()
            model.close()
            raise
        return cls(model, template, engine, drop_parts=settings.drop_unsupported_parts)

    def models(self) -> list[ModelInfo]:
        return [
            ModelInfo(
                id=self.model.id,
                owned_by="causerie",
                context_window=self.model.context_size,
                created=self._created,
            )
        ]

    def _prompt(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        limit: int | None = None,
        reply: ReplyFormat | None = None,
    ) -> list[int]:
        """The prompt's tokens (with ``limit``, possibly cut once it is known to be longer)."""
        if tools:
            messages = [Message("system", tools_preamble(tools)), *messages]
        elif reply is not None:
            messages = [Message("system", reply_preamble(reply)), *messages]
        return self._tokens(self.template.prompt(messages), limit)

    def _tokens(self, text: str, limit: int | None = None) -> list[int]:
        return text_tokens(self.model, text, limit)

    def _raw_prompt(self, messages: Sequence[Message]) -> list[int]:
        """The legacy completions' prompt: the messages' text as it is, no chat template (special
        markers such as ``<start_of_turn>`` still become special tokens, as llama-server's
        ``/completion`` reads them)."""
        text = "".join(message.content for message in messages)
        tokens = self._tokens(text, limit=self.model.context_size)
        if not tokens:
            raise InvalidRequestError("The prompt must not be empty.", param="prompt")
        return tokens

    def count_tokens(self, model: str, messages: Sequence[Message]) -> int:
        return len(self._prompt(messages))

    def _prepare(
        self, messages: Sequence[Message], forced: Sequence[ToolSpec], reply: ReplyFormat | None
    ) -> tuple[str | None, list[int]]:
        """The grammar and the prompt: CPU work, run in a worker thread, never on the loop."""
        if forced:
            reply = None  # the reply is the call
            grammar: str | None = self._grammar(forced)
        else:
            grammar = self._reply_grammar(reply) if reply is not None else None
        prompt = self._prompt(messages, forced, limit=self.model.context_size, reply=reply)
        return grammar, prompt

    async def open(
        self,
        model: str,
        messages: Sequence[Message],
        params: SamplingParams,
        context: TurnContext,
    ) -> LocalCompletion:
        if not messages:
            raise InvalidRequestError("messages must not be empty", param="messages")
        messages = text_only(messages, self.model.id, drop=self.drop_parts)
        parallel = self.engine.config.parallel
        if params.n > parallel:
            raise InvalidRequestError(
                f"n={params.n} asks for more choices than this server decodes at once "
                f"({parallel}, the `parallel` setting, CAUSERIE_PARALLEL).",
                param="n",
            )
        forced = params.tools.forced if params.tools else ()
        stop, what = self.template.stop, "messages"
        if params.raw_prompt:  # no template: none of its end-of-turn stops either
            grammar: str | None = None
            prompt = await to_thread.run_sync(self._raw_prompt, messages)
            stop, what = (), "prompt"
        else:
            grammar, prompt = await to_thread.run_sync(
                self._prepare, messages, forced, params.reply_format
            )
        window = self.model.context_size
        room = window - len(prompt)
        if room < 1:
            raise ContextLengthExceededError(
                f"This model's maximum context length is {window} tokens. However, your {what} "
                f"resulted in {'at least ' if len(prompt) > window else ''}{len(prompt)} tokens. "
                f"Please reduce the length of the {what}.",
                param=what,
            )
        # A reply asked longer than what fits gets what fits, and says so: finish reason
        # `length` (llama.cpp's servers do the same; OpenAI refuses).
        max_tokens = min(params.max_tokens or room, room)
        stop = tuple(dict.fromkeys(stop + params.stop))
        if grammar is not None:
            stop = ()  # the grammar says where the call, or the JSON, ends
        plain = replace(params, tools=None, reply_format=None)
        request = GenerationRequest(
            prompt, plain, max_tokens, stop, grammar, trim=not params.raw_prompt
        )
        generation = self.engine.submit(request, caller=context.fairness_key)
        return LocalCompletion(generation, len(prompt), tool_call=bool(forced))

    def _grammar(self, tools: Sequence[ToolSpec]) -> str:
        """The grammar of one call to one of ``tools``; a schema it cannot enforce is a 400."""
        try:
            grammar = tool_call_grammar(tools)
            check_grammar(self.model.vocab, grammar)
        except (ValueError, GrammarError) as exc:
            raise InvalidRequestError(
                f"The tools' parameters cannot be enforced on this model: {exc}", param="tools"
            ) from exc
        return grammar

    def _reply_grammar(self, reply: ReplyFormat) -> str:
        """The grammar of a reply in ``reply``'s format; a schema it cannot enforce is a 400."""
        try:
            grammar = reply_grammar(reply)
            check_grammar(self.model.vocab, grammar)
        except (ValueError, GrammarError) as exc:
            raise InvalidRequestError(
                f"The response_format schema cannot be enforced on this model: {exc}",
                param="response_format",
            ) from exc
        return grammar

    def ready(self) -> bool:
        return self.engine.state().running

    async def close_engine(self) -> None:
        """Stop the engine but keep the model loaded (tests start several engines on one)."""
        self.engine.close()

    async def unload(self) -> None:
        """Stop the engine without holding up the event loop, and free the model."""
        if isinstance(self.engine, EngineProcess):
            await self.engine.aclose()
        else:
            await to_thread.run_sync(self.engine.close)
        self.model.close()

    async def close(self) -> None:
        self.engine.close()
        self.model.close()
