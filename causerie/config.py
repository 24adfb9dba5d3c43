"""Settings: environment variables ``CAUSERIE_*`` (and command-line flags that override them).

Everything has an embedded default so that ``causerie serve`` works with no configuration: the
bundled Gemma 3 270M model, a SQLite database in the XDG data directory, loopback only.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def xdg_data_dir() -> Path:
    """``$XDG_DATA_HOME/causerie`` (``~/.local/share/causerie`` by default)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "causerie"


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def usable_cpus() -> int:
    """CPUs this process may run on (respects affinity masks, unlike ``os.cpu_count``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def machine_memory() -> int:
    """The machine's RAM in bytes (``MemTotal``; the page count where /proc is missing)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


class Settings(BaseSettings):
    """All of Causerie's settings. Each field is also the environment variable ``CAUSERIE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CAUSERIE_", extra="ignore")

    host: str = Field(
        "127.0.0.1",
        description="Address to listen on. Loopback only until an active admin account "
        "exists (`causerie users create --admin`): until then `causerie serve` refuses any "
        "other address.",
    )
    port: int = Field(8000, ge=0, le=65535, description="TCP port to listen on.")
    allowed_hosts: str = Field(
        "",
        description="While listening on loopback, the host names served besides localhost, "
        "127.0.0.1 and [::1] (comma-separated; `*` turns the check off). Other names in the "
        "`Host` header get 403, which closes DNS rebinding.",
    )
    data_dir: Path = Field(
        default_factory=xdg_data_dir,
        description="Where the database, models and backups live.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default sqlite:///<data_dir>/causerie.db. "
        "Use postgresql+psycopg://user:pass@host/db for Postgres.",
    )
    model: str | None = Field(
        None,
        description="GGUF file path, or a file name in models_dir; default: the bundled Gemma 3 270M.",
    )
    models_dir: Path | None = Field(
        None, description="Directory of GGUF files; default <data_dir>/models."
    )
    context_size: int = Field(
        4096, ge=256, description="Context window in tokens (prompt + reply)."
    )
    threads: int = Field(
        default_factory=usable_cpus, ge=1, description="CPU threads for llama.cpp."
    )
    batch_size: int = Field(512, ge=16, description="Tokens per llama.cpp decode step.")
    parallel: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Sequences the engine decodes together (continuous batching). Default: as "
        "many full-context KV caches as an eighth of the RAM holds, at most 32; conversations "
        "beyond them keep their state in the state cache.",
    )
    engine_process: bool = Field(
        True,
        description="Run the local model's engine in a process of its own, supervised and "
        "restarted if native code aborts (`false`: on a thread of the server, as before).",
    )
    models_memory_mb: int | None = Field(
        None,
        ge=64,
        description="Memory the local models may use together, in MiB (weights and KV cache, as "
        "measured once loaded). Another GGUF of models_dir loads on first use; the least "
        "recently used idle one is unloaded when the budget needs room. Default: half the "
        "machine's RAM.",
    )
    model_keep_alive: float = Field(
        300,
        description="Seconds an idle local model other than the default stays loaded (0: "
        "unloaded after each use; negative: until the budget needs room).",
    )
    model_load_timeout: float = Field(
        120,
        gt=0,
        description="Longest a request waits for its local model to load, or for room in the "
        "memory budget, before 503.",
    )
    state_cache_mb: int | None = Field(
        None,
        ge=0,
        description="Host memory, in MiB, for the KV state of conversations pushed out of the "
        "engine's sequences: their next turn restores it instead of reading the whole history "
        "again (0: off). Default: a quarter of the machine's RAM, at most 8 GiB.",
    )
    prefill_chunk: int = Field(
        128,
        ge=1,
        description="Prompt tokens evaluated per step while other replies stream (chunked prefill).",
    )
    max_waiting: int = Field(
        64,
        ge=0,
        description="Requests that may wait for a sequence; beyond it the API answers 429.",
    )
    max_messages: int = Field(
        2048, ge=1, description="Most messages one request may hold; more gets 400."
    )
    max_input_chars: int = Field(
        1_000_000,
        ge=1,
        description="Most characters the messages of one request may hold, counted before any "
        "tokenizing; more gets 400.",
    )
    max_request_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest accepted request body; bigger gets 413."
    )
    max_upload_bytes: int = Field(
        50 * 1024 * 1024,
        ge=1024,
        description="Largest file an upload to /api/files may hold; bigger gets 413. Also the "
        "largest attachment `causerie import` stores (a bigger one is kept as a placeholder).",
    )
    max_import_bytes: int = Field(
        4 * 1024 * 1024 * 1024,
        ge=1024,
        description="Largest export an upload to /api/imports may be; bigger gets 413. The "
        "upload is spooled to a private temporary file (in TMPDIR) while it is imported.",
    )
    max_import_conversation_mb: int = Field(
        256,
        ge=1,
        description="Largest one conversation of an import may be, in MiB of its JSON; a larger "
        "one is skipped (and listed with the reason) without being read into memory, the others "
        "are imported.",
    )
    max_files_per_user: int = Field(
        1000,
        ge=1,
        description="Most files a user may keep (uploads to /api/files); one more gets 400 "
        "too_many_files.",
    )
    max_files_per_chat: int = Field(
        100,
        ge=1,
        description="Most files one conversation, or one project, may hold; one more gets 400 "
        "too_many_files.",
    )
    temperature: float = Field(0.7, ge=0, le=2, description="Default sampling temperature.")
    top_p: float = Field(0.95, gt=0, le=1, description="Default nucleus sampling mass.")
    top_k: int = Field(40, ge=0, description="Default top-k (0 disables it).")
    min_p: float = Field(0.05, ge=0, le=1, description="Default min-p.")
    repeat_penalty: float = Field(1.1, ge=0, description="Default repetition penalty (1 disables).")
    default_max_tokens: int = Field(
        512, ge=1, description="Reply length when a request sets none (web and terminal chat)."
    )
    api_default_max_tokens: int = Field(
        1024,
        ge=0,
        description="Reply length when an API request (/v1 and Ollama's) sets none; a reply "
        "that reaches it ends with finish_reason `length` (0: no cap but the context).",
    )
    context_overflow: Literal["error", "drop_oldest"] = Field(
        "error",
        description="An API request whose messages do not fit the model's context: `error` "
        "answers 400 context_length_exceeded; `drop_oldest` leaves out its oldest turns "
        "(never system messages nor the last user message and what follows it) until they fit.",
    )
    drop_unsupported_parts: bool = Field(
        False,
        description="A content part a text-only model cannot read (image_url, input_audio, "
        "file) is replaced by a note such as `[image omitted: this model reads text only]` "
        "where it was, instead of a 400 that names the model and the part.",
    )
    map_sections: int = Field(
        12,
        ge=1,
        description="Most sections of a document longer than the context that a whole-document "
        "answer takes notes from, a model call each (docs/documents.md); a longer document is "
        "sampled evenly from start to end.",
    )
    log_level: str = Field("info", description="Log level: debug, info, warning, error.")
    providers_file: Path | None = Field(
        None,
        description="TOML file of remote providers and model aliases (docs/providers.md); "
        "default <data_dir>/providers.toml when it exists.",
    )
    trusted_proxies: str | None = Field(
        None,
        description="Addresses of the reverse proxies whose `X-Forwarded-For`/`-Proto` are "
        "believed (comma-separated; `*` for any). Sign-in throttling counts failures per client "
        "address, so behind a proxy list it here. Default: uvicorn's `FORWARDED_ALLOW_IPS`, "
        "else 127.0.0.1.",
    )
    metrics_token: str | None = Field(
        None,
        description="Once accounts exist, `/metrics` answers only `Authorization: Bearer "
        "<this token>` (for Prometheus' `authorization` setting); without it, it is closed then.",
    )
    local_only: bool = Field(
        False, description="Refuse every provider whose privacy class is external."
    )
    retention_interval: float = Field(
        3600,
        ge=1,
        description="Seconds between two purges of the conversations past the retention "
        "period an admin set (`/admin/settings`; off by default). With several replicas, one "
        "of them purges each time. At the same pace every replica deletes the import jobs "
        "that ended a day ago (their summaries hold words of the export).",
    )
    default_tokens_per_day: int | None = Field(
        None, ge=1, description="Tokens a user may use a day unless their account sets it."
    )
    default_requests_per_minute: int | None = Field(
        None, ge=1, description="Requests a user may start a minute unless their account sets it."
    )
    default_concurrent_requests: int | None = Field(
        None, ge=1, description="Requests a user may run at once unless their account sets it."
    )

    def served_hosts(self) -> list[str] | None:
        """The Host names to accept, or None when any is (not on loopback, or ``*``)."""
        extra = [name.strip() for name in self.allowed_hosts.split(",") if name.strip()]
        if not is_loopback(self.host) or "*" in extra:
            return None
        return ["localhost", "127.0.0.1", "::1", *extra]

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'causerie.db'}"

    def state_cache_bytes(self) -> int:
        """The state cache's budget: the setting, or a quarter of the RAM up to 8 GiB."""
        if self.state_cache_mb is not None:
            return self.state_cache_mb * 2**20
        return min(machine_memory() // 4, 8 * 2**30)

    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"
