"""Per-request sampler chains (llama.cpp's sampler API), one chain per sequence."""

from __future__ import annotations

import ctypes
import random
from collections.abc import Mapping
from typing import Any

import llama_cpp as L
import numpy as np

from causerie.engine.gbnf_check import char_class_errors
from causerie.types import SamplingParams

PENALTY_WINDOW = 64  # tokens of history the repetition penalties look at
# llama_token_data, as numpy lays it out: a candidate array filled from a logits row in one copy
TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])


class GrammarError(ValueError):
    """llama.cpp refused a grammar."""


def grammar_sampler(vocab: Any, grammar: str) -> Any:
    """A llama.cpp sampler that allows only text the GBNF ``grammar`` (root rule ``root``)
    accepts, ending generation when it is complete."""
    sampler = L.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
    if not sampler:
        raise GrammarError("llama.cpp could not parse the grammar")
    return sampler


def check_grammar(vocab: Any, grammar: str) -> None:
    """Raise ``GrammarError`` now, rather than on the engine thread, for a grammar llama.cpp
    refuses or would fail on while sampling (a character class that matches nothing)."""
    errors = char_class_errors(grammar)
    if errors:
        raise GrammarError("; ".join(errors))
    L.llama_sampler_free(grammar_sampler(vocab, grammar))


class SamplerChain:
    """penalties -> logit bias -> top-k -> top-p -> min-p -> temperature -> draw (or greedy),
    under a grammar when there is one.

    The grammar is checked lazily, as llama.cpp's own common sampler does: the chain picks a
    token, and only when the grammar refuses it is the grammar applied to the whole vocabulary
    and the token picked again among the allowed ones. Applying it to 262,144 candidates every
    step cost twice the model's decode; most steps' first pick is allowed. Greedy decoding
    picks exactly what grammar-first would (the most likely allowed token).

    Top-k comes early because Gemma's vocabulary has 262,144 entries. The chain keeps its own
    penalty history and random state, so sequences sampled in one batch never share them.
    """

    def __init__(
        self,
        params: SamplingParams,
        n_vocab: int,
        logit_bias: Mapping[int, float] | None = None,
        *,
        grammar: str | None = None,
        vocab: Any = None,
        stream: int = 0,
    ) -> None:
        """``stream``: which of a request's choices it samples for; with a seed, choice ``i``
        draws from ``seed + i`` (distinct, and each reproducible)."""
        self._n_vocab = n_vocab
        # Plain greedy decoding needs no candidate list: an argmax over the logits row is ten
        # times cheaper than the sampler API's 262,144-entry candidate array (0.05 vs 0.5 ms).
        self._argmax_only = (
            params.temperature <= 0
            and params.repeat_penalty == 1.0
            and not params.frequency_penalty
            and not params.presence_penalty
            and not logit_bias
            and grammar is None
        )
        self._grammar: Any = None
        self._candidates = np.zeros(0, dtype=TOKEN_DATA)
        self._ids = np.zeros(0, dtype=np.int32)
        if grammar is not None:
            self._grammar = grammar_sampler(vocab, grammar)  # raises GrammarError
            self._candidates = np.zeros(n_vocab, dtype=TOKEN_DATA)
            self._ids = np.arange(n_vocab, dtype=np.int32)  # copied in: top-k reorders them
        self._chain: Any = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
        add = self._add
        if params.repeat_penalty != 1.0 or params.frequency_penalty or params.presence_penalty:
            add(
                L.llama_sampler_init_penalties(
                    n_vocab,
                    PENALTY_WINDOW,
                    params.repeat_penalty,
                    params.frequency_penalty,
                    params.presence_penalty,
                )
            )
        if logit_bias:
            entries = (L.llama_logit_bias * len(logit_bias))(
                *(L.llama_logit_bias(token, bias) for token, bias in logit_bias.items())
            )
            add(L.llama_sampler_init_logit_bias(n_vocab, len(logit_bias), entries))
        if params.temperature <= 0:
            add(L.llama_sampler_init_greedy())
            return
        if params.top_k > 0:
            add(L.llama_sampler_init_top_k(params.top_k))
        if params.top_p < 1.0:
            add(L.llama_sampler_init_top_p(params.top_p, 1))
        if params.min_p > 0:
            add(L.llama_sampler_init_min_p(params.min_p, 1))
        add(L.llama_sampler_init_temp(params.temperature))
        seed = params.seed + stream if params.seed is not None else random.getrandbits(32)
        add(L.llama_sampler_init_dist(seed & 0xFFFFFFFF))

    def _add(self, sampler: Any) -> None:
        L.llama_sampler_chain_add(self._chain, sampler)  # the chain owns it from now on

    def logits(self, context: Any, batch_index: int) -> np.ndarray:
        """The raw logits row at ``batch_index`` (llama.cpp's memory, valid until the next
        decode; sampling reads it and leaves it as it is)."""
        row = L.llama_get_logits_ith(context, ctypes.c_int32(batch_index))
        return np.ctypeslib.as_array(row, shape=(self._n_vocab,))

    def sample(self, context: Any, batch_index: int) -> int:
        """Pick the next token from the logits at ``batch_index`` (and record it for penalties)."""
        if self._argmax_only:
            return int(self.logits(context, batch_index).argmax())
        if self._grammar is None:
            return int(L.llama_sampler_sample(self._chain, context, ctypes.c_int32(batch_index)))
        logits = self.logits(context, batch_index)
        token = self._pick(logits, under_grammar=False)
        if not self._allowed(token):
            token = self._pick(logits, under_grammar=True)
        L.llama_sampler_accept(self._grammar, token)
        L.llama_sampler_accept(self._chain, token)
        return token

    def _pick(self, logits: np.ndarray, *, under_grammar: bool) -> int:
        """The chain's token over the whole vocabulary (first the grammar's, if asked)."""
        candidates = self._candidates
        candidates["id"] = self._ids
        candidates["logit"] = logits
        candidates["p"] = 0.0
        array = _token_array(candidates)
        if under_grammar:
            L.llama_sampler_apply(self._grammar, ctypes.byref(array))
        L.llama_sampler_apply(self._chain, ctypes.byref(array))
        return int(candidates["id"][array.selected])

    def _allowed(self, token: int) -> bool:
        """Whether the grammar lets ``token`` come next."""
        one = np.array([(token, 1.0, 0.0)], dtype=TOKEN_DATA)
        array = _token_array(one)
        L.llama_sampler_apply(self._grammar, ctypes.byref(array))
        return bool(np.isfinite(one["logit"][0]))

    def close(self) -> None:
        if self._chain is not None:
            L.llama_sampler_free(self._chain)
            self._chain = None
        if self._grammar is not None:
            L.llama_sampler_free(self._grammar)
            self._grammar = None


def _token_array(candidates: np.ndarray) -> Any:
    """A ``llama_token_data_array`` over ``candidates``' memory (nothing copied)."""
    data = ctypes.cast(candidates.ctypes.data, ctypes.POINTER(L.llama_token_data))
    return L.llama_token_data_array(data=data, size=len(candidates), selected=-1, sorted=False)
