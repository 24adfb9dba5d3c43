"""The in-process model: chat template -> tokens -> the continuous-batching engine."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence

from causerie.config import Settings
from causerie.engine.metrics import EngineMetrics
from causerie.engine.model import LoadedModel, resolve_model_path
from causerie.engine.requests import Generation, GenerationRequest
from causerie.engine.scheduler import EngineConfig, Scheduler
from causerie.engine.templates import ChatTemplate, resolve_template
from causerie.errors import ContextLengthExceededError, InvalidRequestError
from causerie.types import CALLER, Delta, Message, ModelInfo, SamplingParams


class LocalCompletion:
    def __init__(self, generation: Generation, prompt_tokens: int) -> None:
        self._generation = generation
        self.prompt_tokens = prompt_tokens

    def __aiter__(self) -> AsyncIterator[Delta]:
        return self._generation.__aiter__()

    def cancel(self) -> None:
        self._generation.cancel()


class LocalProvider:
    """Serves one GGUF model loaded in this process."""

    name = "local"

    def __init__(self, model: LoadedModel, template: ChatTemplate, engine: EngineConfig) -> None:
        self.model = model
        self.template = template
        self.metrics = EngineMetrics()
        self.scheduler = Scheduler(model, engine, self.metrics)
        self._created = int(time.time())

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalProvider:
        path = resolve_model_path(settings.model, settings.resolved_models_dir())
        model = LoadedModel(
            path,
            context_size=settings.context_size,
        )
        template = resolve_template(model.metadata, bos=model.bos_text, eos=model.eos_text)
        engine = EngineConfig(
            context_size=settings.context_size,
            parallel=settings.parallel,
            batch_size=settings.batch_size,
            prefill_chunk=settings.prefill_chunk,
            threads=settings.threads,
            max_waiting=settings.max_waiting,
        )
        return cls(model, template, engine)

    def models(self) -> list[ModelInfo]:
        return [
            ModelInfo(
                id=self.model.id,
                owned_by="causerie",
                context_window=self.model.context_size,
                created=self._created,
            )
        ]

    def _prompt(self, messages: Sequence[Message]) -> list[int]:
        text = self.template.render(messages)
        bos = self.model.bos_text
        add_bos = self.model.adds_bos and not (bos and text.startswith(bos))
        return self.model.tokenize(text, add_bos=add_bos)

    def count_tokens(self, model: str, messages: Sequence[Message]) -> int:
        return len(self._prompt(messages))

    async def open(
        self, model: str, messages: Sequence[Message], params: SamplingParams
    ) -> LocalCompletion:
        if not messages:
            raise InvalidRequestError("messages must not be empty", param="messages")
        prompt = self._prompt(messages)
        window = self.model.context_size
        room = window - len(prompt)
        if room < 1:
            raise ContextLengthExceededError(
                f"This model's maximum context length is {window} tokens. However, your messages "
                f"resulted in {len(prompt)} tokens. Please reduce the length of the messages.",
                param="messages",
            )
        max_tokens = params.max_tokens if params.max_tokens is not None else room
        if max_tokens > room:
            raise ContextLengthExceededError(
                f"This model's maximum context length is {window} tokens. However, you requested "
                f"{len(prompt) + max_tokens} tokens ({len(prompt)} in the messages, {max_tokens} "
                f"in the completion). Please reduce the length of the messages or completion.",
                param="max_tokens",
            )
        stop = tuple(dict.fromkeys(self.template.stop + params.stop))
        request = GenerationRequest(prompt, params, max_tokens, stop)
        generation = self.scheduler.submit(request, caller=CALLER.get())
        return LocalCompletion(generation, len(prompt))

    async def close_engine(self) -> None:
        """Stop the engine but keep the model loaded (tests start several engines on one)."""
        self.scheduler.close()

    async def close(self) -> None:
        self.scheduler.close()
        self.model.close()
