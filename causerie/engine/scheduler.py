"""Continuous batching over one llama.cpp context: many sequences, one ``llama_decode`` a step.

One thread owns the context and loops: admit waiting requests into idle sequences (fairly across
callers, reusing the longest cached prefix), build a batch with one token for every generating
sequence plus a budget of prompt tokens (chunked prefill, so long prompts never stall running
streams for long), decode, sample each sequence with its own sampler chain, stream the text out.
Requests join and leave between steps; a cancelled request frees its sequence at the next step.
A request for n choices takes n sequences: one prefills the prompt, the others copy its cache
(llama.cpp shares the cells) and sample on their own from the same last logits on.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import llama_cpp as L
from prometheus_client import CollectorRegistry

from causerie.engine.host_states import HostStates
from causerie.engine.kvcache import Choices, Running, Slot, choose_slot, spare_slots
from causerie.engine.logprobs import LogprobTrail, logprobs_of
from causerie.engine.metrics import EngineMetrics
from causerie.engine.model import LoadedModel, model_fingerprint
from causerie.engine.queue import FairQueue
from causerie.engine.requests import EngineState, Generation, GenerationRequest
from causerie.engine.sampling import GrammarError, SamplerChain
from causerie.engine.sequences import SequenceMemory
from causerie.engine.state_cache import StateCache
from causerie.engine.text import ReplyText
from causerie.errors import ConfigurationError, EngineError, OverloadedError
from causerie.types import Delta, FinishReason, TokenLogprob, Usage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineConfig:
    context_size: int  # per sequence
    parallel: int  # sequences decoded together
    batch_size: int  # tokens per llama_decode call
    prefill_chunk: int  # prompt tokens per step while other sequences generate
    threads: int
    max_waiting: int  # admission queue bound; beyond it: 429
    state_cache_bytes: int = 0  # host memory for evicted sequences' states (0: none)


class Scheduler:
    """The engine. ``submit`` from asyncio; everything llama.cpp happens on the engine thread."""

    def __init__(self, model: LoadedModel, config: EngineConfig, metrics: EngineMetrics) -> None:
        self.model = model
        self.config = config
        self.metrics = metrics
        params = L.llama_context_default_params()
        params.n_ctx = config.context_size * config.parallel
        params.n_batch = params.n_ubatch = config.batch_size
        params.n_seq_max = config.parallel
        params.n_threads = params.n_threads_batch = config.threads
        params.kv_unified = (
            True  # every sequence may use the whole pool; mixed batches split simply
        )
        params.swa_full = (
            False  # small sliding-window cache; prefix reuse checks what it still holds
        )
        params.no_perf = True
        self._ctx: Any = L.llama_init_from_model(model.pointer, params)
        if not self._ctx:
            raise ConfigurationError("llama.cpp could not create a context for the model")
        self._memory = L.llama_get_memory(self._ctx)
        self._batch = L.llama_batch_init(config.batch_size, 0, 1)
        self._n_swa = int(L.llama_model_n_swa(model.pointer))
        self._n_vocab = int(L.llama_vocab_n_tokens(model.vocab))
        self._slots = [Slot(seq_id) for seq_id in range(config.parallel)]
        self._states: HostStates | None = None
        if config.state_cache_bytes > 0:
            cache = StateCache(config.state_cache_bytes)
            fingerprint = model_fingerprint(model)
            self._states = HostStates(self._ctx, cache, fingerprint, self._n_swa, metrics.registry)
        self._sequences = SequenceMemory(self._memory, self._n_swa, self._states)
        self._waiting: FairQueue[Generation] = FairQueue()
        self._in_flight = 0  # admitted or waiting; guarded by _wake
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="causerie-engine", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ asyncio side

    def submit(self, request: GenerationRequest, caller: str) -> Generation:
        """Queue a request. Raises ``OverloadedError`` at once when the queue is full."""
        generation = Generation(request, asyncio.get_running_loop())
        self.enqueue(generation, caller)
        return generation

    def enqueue(self, generation: Generation, caller: str) -> None:
        """Queue a generation made by the caller (the engine process makes its own kind)."""
        with self._wake:
            if self._in_flight >= self.config.parallel + self.config.max_waiting:
                self.metrics.rejected_requests.inc()
                waiting = len(self._waiting)
                retry_after = float(max(1, math.ceil((waiting + 1) / self.config.parallel)))
                raise OverloadedError(
                    f"The server is busy: every sequence is in use and {waiting} requests are "
                    f"waiting. Retry in {retry_after:.0f} s.",
                    retry_after=retry_after,
                )
            self._in_flight += 1
            self._waiting.push(caller, generation)
            self.metrics.queue_depth.set(len(self._waiting))
            self._wake.notify()

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Nothing to do: the engine thread hands deltas to each request's own loop."""

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=30)
        for slot in self._slots:
            if slot.running is not None:
                slot.running.sampler.close()
        L.llama_batch_free(self._batch)
        L.llama_free(self._ctx)

    # ------------------------------------------------------------------ engine thread

    def _loop(self) -> None:
        while True:
            self._take_messages()
            with self._wake:
                while not self._closed and not len(self._waiting) and self._all_idle():
                    self._wait_for_work()
                if self._closed:
                    return
                self._admit()
                self.metrics.queue_depth.set(len(self._waiting))
            try:
                self._step()
            except Exception as exc:  # never let the engine thread die silently
                log.exception("engine step failed")
                self._fail_all(EngineError(f"the model failed while generating: {exc}"))
            # after the step too: the one that finished the last sequence leaves it at 0
            self.metrics.active_sequences.set(sum(not slot.idle for slot in self._slots))
            self._after_step()

    def _take_messages(self) -> None:
        """Called on the engine thread before each step (the engine process reads its socket)."""

    def _wait_for_work(self) -> None:
        """Sleep until a request may have come (called with ``_wake`` held, nothing to do)."""
        self._wake.wait()

    def _after_step(self) -> None:
        """Called on the engine thread after every step (the engine process reports metrics)."""

    @property
    def registry(self) -> CollectorRegistry:
        return self.metrics.registry

    def state(self) -> EngineState:
        return EngineState(running=not self._closed, pid=os.getpid(), restarts=0)

    def _all_idle(self) -> bool:
        return all(slot.idle for slot in self._slots)

    def _admit(self) -> None:
        """Give idle slots to waiting requests, fairly, reusing cached prefixes. A request for
        n choices waits, first in line, until n slots are idle together (taking them one by one
        would hold some against everyone while it waits for the rest)."""
        while True:
            idle = [slot for slot in self._slots if slot.idle]
            if not idle:
                return
            room = len(idle)
            generation = self._waiting.pop(
                skip=lambda g: g.cancelled or g.request.params.n > len(self._slots),
                dropped=self._refuse,
                fits=lambda g: g.request.params.n <= room,  # noqa: B023 (called at once)
            )
            if generation is None:
                return
            request = generation.request
            prompt, n = request.prompt, request.params.n
            slot, shared = choose_slot(idle, prompt)
            if request.params.seed is not None:
                # A seed asks for a reproducible reply: evaluate the prompt the same way every
                # time (a reused prefix changes the last bits of the logits, and the draw).
                shared = 0
                if n > 1:
                    # The choices' own cells go among the other sequences' leftovers, and
                    # where they land changes the last bits of the logits too (measured: the
                    # same seed drew other choices 1..n-1 after a first run). Idle caches go.
                    for other in idle:
                        self._sequences.cut(other, 0)
            elif self._states is not None:
                slot, shared = self._sequences.restore(idle, slot, prompt, shared)
            samplers: list[SamplerChain] = []
            try:
                for choice in range(n):
                    samplers.append(
                        SamplerChain(
                            request.params,
                            self._n_vocab,
                            grammar=request.grammar,
                            vocab=self.model.vocab,
                            stream=choice,
                        )
                    )
            except GrammarError as exc:  # checked before submitting; never kill the engine
                for sampler in samplers:
                    sampler.close()
                generation.push(EngineError(f"the reply's grammar was refused: {exc}"))
                self._forget(generation)
                continue
            keep = self._sequences.cut(slot, min(shared, len(prompt) - 1))
            choices = Choices(left=n)
            targets = [slot, *spare_slots(idle, slot, n - 1)]
            for choice, (target, sampler) in enumerate(zip(targets, samplers, strict=True)):
                if target is not slot:
                    self._sequences.cut(target, 0)  # overwritten by the prompt's copy
                target.running = Running(
                    generation=generation,
                    sampler=sampler,
                    text=ReplyText(request.stop, trim=request.trim),
                    cached=keep,
                    choices=choices,
                    choice=choice,
                    source=None if target is slot else slot,
                    trail=LogprobTrail() if request.params.logprobs is not None else None,
                )
            self.metrics.prompt_tokens.inc(len(prompt))
            self.metrics.cached_prompt_tokens.inc(keep)

    def _refuse(self, generation: Generation) -> None:
        """A request dropped from the queue: cancelled while waiting, or asking for more
        choices than the engine has sequences (the provider refuses those first)."""
        if not generation.cancelled:
            generation.push(
                EngineError(f"{generation.request.params.n} choices need as many sequences")
            )
        self._forget(generation)

    def _step(self) -> None:
        batch, n = self._batch, 0
        active: list[Slot] = []
        for slot in self._slots:
            running = slot.running
            if running is None:
                continue
            if running.generation.cancelled:
                self._release(slot)
                continue
            running.batch_index = -1
            if running.source is not None:
                continue  # waits for the prompt's cache
            active.append(slot)
        self.metrics.active_sequences.set(len(active))
        if not active:
            return

        def add(slot: Slot, token: int, logits: bool) -> None:
            nonlocal n
            batch.token[n] = token
            batch.pos[n] = len(slot.tokens)
            batch.n_seq_id[n] = 1
            batch.seq_id[n][0] = slot.seq_id
            batch.logits[n] = logits
            slot.tokens.append(token)
            n += 1

        generating = [s for s in active if s.running and s.running.next_token >= 0]
        for slot in generating:
            assert slot.running is not None
            add(slot, slot.running.next_token, True)
            slot.running.batch_index = n - 1
            slot.running.next_token = -1
        budget = self.config.prefill_chunk if generating else self.config.batch_size
        budget = min(budget, self.config.batch_size - n)
        prefilling = [s for s in active if s.running is not None and s not in generating]
        prefilling.sort(key=lambda s: s.running.generation.submitted_at if s.running else 0.0)
        for slot in prefilling:
            running = slot.running
            if running is None or budget <= 0:
                continue
            prompt = running.generation.request.prompt
            start = len(slot.tokens)
            take = min(len(prompt) - start, budget)
            for position in range(start, start + take):
                add(slot, prompt[position], position == len(prompt) - 1)
            budget -= take
            if len(slot.tokens) == len(prompt):
                running.batch_index = n - 1
        batch.n_tokens = n
        if not self._decode():
            return
        now = time.monotonic()
        ready = [s for s in active if s.running is not None and s.running.batch_index >= 0]
        for slot in list(ready):
            assert slot.running is not None
            if slot.running.choices.left > 1 and slot.running.produced == 0:
                ready += self._fork(slot)
        for slot in ready:
            if slot.running is not None and slot.running.batch_index >= 0:
                self._sample(slot, now)

    def _fork(self, source: Slot) -> list[Slot]:
        """The other choices of the request whose prompt ``source`` has just prefilled: each
        takes a copy of its cache and samples from the same logits."""
        assert source.running is not None
        forked = []
        for slot in self._slots:
            running = slot.running
            if running is None or running.source is not source:
                continue
            L.llama_memory_seq_rm(self._memory, slot.seq_id, -1, -1)
            L.llama_memory_seq_cp(self._memory, source.seq_id, slot.seq_id, -1, -1)
            slot.tokens[:] = source.tokens
            running.source = None
            running.batch_index = source.running.batch_index
            forked.append(slot)
        return forked

    def _decode(self) -> bool:
        status = L.llama_decode(self._ctx, self._batch)
        if status == 1:  # no room in the KV cache: drop idle caches and try once more
            for slot in self._slots:
                if slot.idle and slot.tokens:
                    self._sequences.cut(slot, 0)  # saved to host memory first, if enabled
            status = L.llama_decode(self._ctx, self._batch)
        if status != 0:
            self._fail_all(EngineError(f"llama_decode failed with status {status}"))
            return False
        return True

    def _sample(self, slot: Slot, now: float) -> None:
        running = slot.running
        assert running is not None
        request = running.generation.request
        token = running.sampler.sample(self._ctx, running.batch_index)
        if self.model.is_end_of_generation(token):
            self._finish(slot, "stop")
            return
        running.produced += 1
        self.metrics.generated_tokens.inc()
        if running.produced > 1:
            self.metrics.inter_token_latency.observe(now - running.last_token_at)
        elif running.choice == 0:  # the others are the same request's
            self.metrics.time_to_first_token.observe(now - running.generation.submitted_at)
        running.last_token_at = now
        listed: tuple[TokenLogprob, ...] = ()
        if running.trail is not None:
            top = request.params.logprobs or 0
            logits = running.sampler.logits(self._ctx, running.batch_index)
            running.trail.add(logprobs_of(logits, token, top, self.model.piece))
        text = running.text.feed(self.model.piece(token))
        if running.trail is not None:
            listed = running.trail.shown(running.text.lead, running.text.shown)
        if text or listed:
            running.generation.push(Delta(text, choice=running.choice, logprobs=listed))
        if running.text.stopped:
            self._finish(slot, "stop")
        elif running.produced >= request.max_tokens or len(slot.tokens) >= self.config.context_size:
            self._finish(slot, "length")
        else:
            running.next_token = token

    def _finish(self, slot: Slot, reason: FinishReason) -> None:
        running = slot.running
        assert running is not None
        choices = running.choices
        choices.produced += running.produced
        usage = None
        if choices.left == 1:  # the request's last choice: the usage of them all
            prompt = len(running.generation.request.prompt)
            usage = Usage(prompt, choices.produced, running.cached)
        text = running.text.finish()
        listed: tuple[TokenLogprob, ...] = ()
        if running.trail is not None:
            listed = running.trail.finish(running.text.lead, running.text.shown)
        final = Delta(text, reason, usage, choice=running.choice, logprobs=listed)
        self._release(slot)  # before the caller hears of it: its next request may come at once
        running.generation.push(final)

    def _release(self, slot: Slot) -> None:
        """The slot becomes idle; its cache stays for the conversation's next turn. The request
        leaves the engine with its last choice."""
        running = slot.running
        if running is not None:
            running.sampler.close()
            running.choices.left -= 1
            if running.choices.left == 0:
                self._forget(running.generation)
        slot.running = None
        slot.last_used = time.monotonic()

    def _forget(self, _: Generation) -> None:
        """A request left the engine (finished, failed, or cancelled while waiting)."""
        with self._wake:
            self._in_flight -= 1

    def _fail_all(self, error: EngineError) -> None:
        told: set[int] = set()
        for slot in self._slots:
            if slot.running is not None:
                if id(slot.running.generation) not in told:  # once for all its choices
                    told.add(id(slot.running.generation))
                    slot.running.generation.push(error)
                self._release(slot)
            L.llama_memory_seq_rm(self._memory, slot.seq_id, -1, -1)
            slot.tokens.clear()
