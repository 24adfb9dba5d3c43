"""Prometheus metrics of the engine, on a registry of its own (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2, 5, 10, 30)


class EngineMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.queue_depth = Gauge(
            "causerie_queue_depth", "Requests waiting for a sequence", registry=r
        )
        self.active_sequences = Gauge(
            "causerie_active_sequences", "Sequences prefilling or generating", registry=r
        )
        self.prompt_tokens = Counter(
            "causerie_prompt_tokens", "Prompt tokens received (cached or evaluated)", registry=r
        )
        self.cached_prompt_tokens = Counter(
            "causerie_cached_prompt_tokens", "Prompt tokens reused from the KV cache", registry=r
        )
        self.generated_tokens = Counter("causerie_generated_tokens", "Tokens generated", registry=r)
        self.rejected_requests = Counter(
            "causerie_rejected_requests", "Requests refused because the queue was full", registry=r
        )
        self.time_to_first_token = Histogram(
            "causerie_time_to_first_token_seconds",
            "From submission to the first generated token",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.inter_token_latency = Histogram(
            "causerie_inter_token_latency_seconds",
            "Between two tokens of one reply",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
