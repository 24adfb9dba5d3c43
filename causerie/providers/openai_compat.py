"""Any OpenAI-compatible upstream: vLLM, llama-server, Ollama, OpenAI, xAI, Mistral, Groq, ...

``open`` sends the request and waits for the upstream's first token: everything that can fail
before it (connection, timeout, 5xx, 429) raises ``ProviderUnavailableError`` and a route may
try another target. After that, a broken stream raises ``ProviderError`` inside the iteration and
is never replayed elsewhere.

Function calling passes through: tools, ``tool_choice``, ``parallel_tool_calls``, assistant
tool calls and tool results go upstream as the client sent them, and the upstream's streamed
``delta.tool_calls`` come back as tool-call pieces (ids, indexes and argument pieces intact).

A raw prompt (``SamplingParams.raw_prompt``, the legacy completions) goes to the upstream's
``/completions`` as ``prompt``, with the same sampling fields, and its streamed ``choices[].text``
comes back as deltas; everything else (limits, errors, failover) is as for a chat.

``n`` and ``logprobs`` pass through too (``logprobs``/``top_logprobs`` for a chat, the legacy
``logprobs`` count for a raw prompt): the upstream's choices come back under their indexes, and
its token logprobs with them. An upstream that sends fewer choices than asked for fails the
reply when its stream ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

import httpx

from causerie.errors import (
    CauserieError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
)
from causerie.providers.config import ProviderConfig
from causerie.providers.wire import (
    FINISH_REASONS,
    estimate_tokens,
    retry_after_seconds,
    tool_call_pieces,
    upstream_message,
    wire_logprobs,
    wire_message,
    wire_tools,
)
from causerie.types import (
    Delta,
    FinishReason,
    Message,
    ModelInfo,
    Redactions,
    SamplingParams,
    TurnContext,
    Usage,
)

log = logging.getLogger(__name__)


class UpstreamClock:
    """When a request's last byte went upstream and its first delta's line came back
    (``time.perf_counter()``): between the two the upstream works; building and writing the
    request and reading the reply are Causerie's own time."""

    def __init__(self) -> None:
        self.sent = time.perf_counter()  # until httpx reports the body written
        self.first_delta: float | None = None

    async def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpx's ``trace`` extension: called on each step of the exchange."""
        if event.endswith(".send_request_body.complete"):
            self.sent = time.perf_counter()

    def wait(self) -> float:
        return (self.first_delta or time.perf_counter()) - self.sent


class UpstreamCompletion:
    """A reply streaming from an upstream; its first delta was already received by ``open``."""

    def __init__(
        self,
        provider: OpenAICompatProvider,
        model: str,
        response: httpx.Response,
        events: AsyncGenerator[Delta, None],
        first: Delta,
        prompt_tokens: int,
        upstream_wait: float,
    ) -> None:
        self._provider = provider
        self._response = response
        self._events = events
        self._first: Delta | None = first
        self.prompt_tokens = prompt_tokens
        self.served_by: str | None = f"{provider.name}/{model}"
        self.redactions: Redactions | None = None  # the firewall's wrapper reports them
        self.upstream_wait: float | None = upstream_wait
        self._done = False

    async def __aiter__(self) -> AsyncIterator[Delta]:
        try:
            if self._first is not None:
                first, self._first = self._first, None
                yield first
                if first.usage is not None:  # the reply's last delta
                    return
            async for delta in self._events:
                yield delta
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"The upstream `{self._provider.name}` failed in the middle of the reply "
                f"({type(exc).__name__})."
            ) from exc
        finally:
            await self._finish()

    async def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        self._provider._release()
        try:
            await self._events.aclose()
        except RuntimeError:  # still running in a cancelled consumer; closing the response ends it
            pass
        await self._response.aclose()

    def cancel(self) -> None:
        if not self._done:
            self._provider._background(self._finish())


class OpenAICompatProvider:
    """One upstream speaking the OpenAI chat completions API over HTTP(S)."""

    def __init__(self, config: ProviderConfig, models: list[str] | None = None) -> None:
        self.config = config
        self.name = config.name
        self.privacy = config.privacy
        self._model_ids = list(config.models if config.models is not None else models or [])
        self._windows: dict[str, int] = {}
        self._created = int(time.time())
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._client = httpx.AsyncClient(
            base_url=config.base_url,
            headers=self.headers(),
            timeout=httpx.Timeout(
                config.read_timeout,
                connect=config.connect_timeout,
                pool=config.connect_timeout,
            ),
            limits=httpx.Limits(max_connections=config.max_concurrency),
        )

    def headers(self) -> dict[str, str]:
        headers = dict(self.config.headers)
        key = self.config.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    # -- models --------------------------------------------------------------------------------

    def discover(self) -> list[str]:
        """Fetch the upstream's ``/models`` (blocking; at start-up and for ``providers check``)."""
        response = httpx.get(
            f"{self.config.base_url}/models",
            headers=self.headers(),
            timeout=self.config.connect_timeout,
        )
        response.raise_for_status()
        ids = []
        for entry in response.json().get("data") or []:
            if isinstance(entry, dict) and entry.get("id"):
                ids.append(str(entry["id"]))
                window = entry.get("max_model_len") or entry.get("context_length")
                if isinstance(window, int) and window > 0:
                    self._windows[str(entry["id"])] = window
        if self.config.models is None:  # its embedding models are not chat models
            self._model_ids = [i for i in ids if i not in self.config.embedding_models]
        return ids

    def models(self) -> list[ModelInfo]:
        return [
            ModelInfo(
                id=model,
                owned_by=self.name,
                context_window=self.context_window(model),
                created=self._created,
            )
            for model in self._model_ids
        ]

    def context_window(self, model: str) -> int:
        return self._windows.get(model, self.config.context_window)

    def count_tokens(self, model: str, messages: Sequence[Message]) -> int:
        return estimate_tokens(messages)

    # -- completions ---------------------------------------------------------------------------

    def body(
        self, model: str, messages: Sequence[Message], params: SamplingParams
    ) -> dict[str, Any]:
        """The request to ``path(params)``: a chat's messages, or a raw prompt's text."""
        body: dict[str, Any] = {"model": model}
        if params.raw_prompt:
            body["prompt"] = "".join(m.content for m in messages)
        else:
            body["messages"] = [wire_message(m) for m in messages]
        body.update(
            stream=True,
            stream_options={"include_usage": True},
            temperature=params.temperature,
            top_p=params.top_p,
        )
        if params.max_tokens is not None:  # the legacy API knows only `max_tokens`
            field = "max_tokens" if params.raw_prompt else self.config.max_tokens_field
            body[field] = params.max_tokens
        if params.presence_penalty:
            body["presence_penalty"] = params.presence_penalty
        if params.frequency_penalty:
            body["frequency_penalty"] = params.frequency_penalty
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = list(params.stop)
        if self.config.extra_sampling:
            body.update(
                top_k=params.top_k, min_p=params.min_p, repeat_penalty=params.repeat_penalty
            )
        if params.tools is not None:
            body.update(wire_tools(params.tools))
        if params.reply_format is not None:
            body["response_format"] = params.reply_format.wire  # as the request sent it
        if params.n > 1:
            body["n"] = params.n
        if params.logprobs is not None:
            if params.raw_prompt:
                body["logprobs"] = params.logprobs
            else:
                body["logprobs"] = True
                if params.logprobs:
                    body["top_logprobs"] = params.logprobs
        return body

    @staticmethod
    def path(params: SamplingParams) -> str:
        return "completions" if params.raw_prompt else "chat/completions"

    async def open(
        self,
        model: str,
        messages: Sequence[Message],
        params: SamplingParams,
        context: TurnContext,
    ) -> UpstreamCompletion:
        if not messages:
            raise InvalidRequestError("messages must not be empty", param="messages")
        await self._acquire()
        try:
            return await self._start(model, messages, params)
        except BaseException:
            self._release()
            raise

    async def _start(
        self, model: str, messages: Sequence[Message], params: SamplingParams
    ) -> UpstreamCompletion:
        clock = UpstreamClock()
        request = self._client.build_request(
            "POST",
            self.path(params),
            json=self.body(model, messages, params),
            extensions={"trace": clock.trace},
        )
        response: httpx.Response | None = None
        events: AsyncGenerator[Delta, None] | None = None
        try:
            async with asyncio.timeout(self.config.first_token_timeout):
                response = await self._client.send(request, stream=True)
                if response.status_code >= 400:
                    await response.aread()
                    raise self.error_for(response)
                events = self._deltas(response, clock, params.n)
                first = await anext(events)
        except BaseException as exc:
            if events is not None:
                await events.aclose()
            if response is not None:
                await response.aclose()
            converted = self._before_first_token(exc)
            if converted is exc:
                raise
            raise converted from exc
        return UpstreamCompletion(
            self, model, response, events, first, estimate_tokens(messages), clock.wait()
        )

    def _before_first_token(self, exc: BaseException) -> BaseException:
        """What a failure before the first token means for the caller (and for failover)."""
        name = self.name
        if isinstance(exc, CauserieError) and type(exc) is not ProviderError:
            return exc
        if isinstance(exc, ProviderError):
            return ProviderUnavailableError(exc.message)
        if isinstance(exc, TimeoutError | httpx.TimeoutException):
            return ProviderUnavailableError(
                f"The upstream `{name}` sent no token within {self.config.first_token_timeout:g} s."
            )
        if isinstance(exc, httpx.HTTPError):
            log.warning("provider %s unreachable: %s", name, type(exc).__name__)
            return ProviderUnavailableError(
                f"The upstream `{name}` could not be reached ({type(exc).__name__})."
            )
        return exc

    def error_for(self, response: httpx.Response) -> CauserieError:
        """An upstream error status -> the CauserieError it means for our caller."""
        status = response.status_code
        message, code, param = upstream_message(response)
        log.warning("provider %s answered %d", self.name, status)
        prefix = f"The upstream `{self.name}` answered {status}"
        if status == 429:
            retry_after = retry_after_seconds(response.headers.get("retry-after"))
            return RateLimitedError(f"{prefix}: {message}", retry_after=retry_after)
        if status == 404:
            return ModelNotFoundError(f"{prefix}: {message}", param="model")
        if status in (400, 413, 422):
            if code == "context_length_exceeded" or "context length" in message.lower():
                return ContextLengthExceededError(message, param=param)
            return InvalidRequestError(message, param=param, code=code)
        if status in (401, 403):
            return ProviderUnavailableError(f"{prefix} (check its API key): {message}")
        return ProviderUnavailableError(f"{prefix}: {message}")

    async def _deltas(
        self, response: httpx.Response, clock: UpstreamClock, choices: int = 1
    ) -> AsyncGenerator[Delta, None]:
        """Parse the upstream's SSE into deltas of its ``choices``; then each choice's finish
        reason, the last with the usage (``clock`` learns when the first delta's line
        arrived)."""
        finishes: dict[int, FinishReason] = {}
        usage: Usage | None = None
        completion_chunks = 0
        done = False
        async for line in response.aiter_lines():
            arrived = time.perf_counter()
            if done or not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                # Read on to the body's end (ignoring whatever follows): a response closed
                # before it loses its connection, and the next request would pay a new one
                # (a TLS handshake, for a cloud).
                done = True
                continue
            try:
                event = json.loads(data)
            except json.JSONDecodeError as exc:
                raise ProviderError(f"The upstream `{self.name}` sent invalid JSON.") from exc
            if not isinstance(event, dict):
                continue
            if event.get("error"):
                error = event["error"]
                text = error.get("message") if isinstance(error, dict) else str(error)
                raise ProviderError(f"The upstream `{self.name}` reported an error: {text}")
            if isinstance(event.get("usage"), dict):
                usage = self._usage(event["usage"])
            for choice in event.get("choices") or []:
                index = choice.get("index") or 0
                if not isinstance(index, int) or not 0 <= index < choices:
                    continue
                delta = choice.get("delta") or {}
                text = delta.get("content") or choice.get("text")  # chat's, or the legacy API's
                pieces = tool_call_pieces(delta.get("tool_calls"))
                logprobs = wire_logprobs(choice.get("logprobs"))
                if text or pieces or logprobs:
                    completion_chunks += 1
                    if clock.first_delta is None:
                        clock.first_delta = arrived
                    yield Delta(text or "", tool_calls=pieces, choice=index, logprobs=logprobs)
                if choice.get("finish_reason"):
                    finishes[index] = FINISH_REASONS.get(choice["finish_reason"], "stop")
        if len(finishes) < choices:
            raise ProviderError(
                f"The upstream `{self.name}` ended the reply without finishing it"
                + (f" ({len(finishes)} of {choices} choices finished)." if choices > 1 else ".")
            )
        for index in range(choices):
            last = index == choices - 1
            total = (usage or Usage(0, completion_chunks)) if last else None
            yield Delta(finish_reason=finishes[index], usage=total, choice=index)

    @staticmethod
    def _usage(data: dict[str, Any]) -> Usage:
        details = data.get("prompt_tokens_details") or {}
        return Usage(
            prompt_tokens=int(data.get("prompt_tokens") or 0),
            completion_tokens=int(data.get("completion_tokens") or 0),
            cached_tokens=int(details.get("cached_tokens") or 0),
        )

    # -- requests that do not stream (embeddings) ----------------------------------------------

    async def post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to the upstream's ``path`` and return its JSON object, within the
        provider's concurrency limit and timeouts (``read_timeout``: the longest silence while
        it works and answers). An error status, an unreachable or silent upstream raise what
        they raise in ``open``."""
        await self._acquire()
        try:
            response = await self._client.post(path, json=body)
        except httpx.TimeoutException as exc:
            raise ProviderUnavailableError(
                f"The upstream `{self.name}` did not answer within {self.config.read_timeout:g} s."
            ) from exc
        except httpx.HTTPError as exc:
            raise self._before_first_token(exc) from exc
        finally:
            self._release()
        if response.status_code >= 400:
            raise self.error_for(response)
        try:
            data = response.json()
        except ValueError as exc:
            raise ProviderError(f"The upstream `{self.name}` sent invalid JSON.") from exc
        if not isinstance(data, dict):
            raise ProviderError(f"The upstream `{self.name}` sent JSON that is not an object.")
        return data

    # -- concurrency and lifetime --------------------------------------------------------------

    async def _acquire(self) -> None:
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise RateLimitedError(
                f"The upstream `{self.name}` is at its concurrency limit "
                f"({self.config.max_concurrency})."
            ) from None

    def _release(self) -> None:
        self._slots.release()

    def _background(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def probe(self) -> list[str]:
        """Ask the upstream for its models; raises ProviderUnavailableError when unreachable."""
        try:
            response = await self._client.get("models", timeout=self.config.connect_timeout)
        except httpx.HTTPError as exc:
            raise self._before_first_token(exc) from exc
        if response.status_code >= 400:
            raise self.error_for(response)
        return [str(e["id"]) for e in response.json().get("data") or [] if isinstance(e, dict)]

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()
