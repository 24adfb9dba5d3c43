"""What Causerie itself adds to a reply an upstream streams, as a Prometheus histogram.

Per streamed API request served by an upstream: the time from the request's arrival in the app
(stamped by ``RequestClockMiddleware``) to its first text written to the client, minus the
upstream's own wait between Causerie's send and its first delta (``Completion.upstream_wait``).
What is left is Causerie's: parsing, authentication, admission, history, the privacy firewall,
the send, and relaying the first delta. An operator reads it to tell a slow provider from a slow
proxy; ``benchmarks/proxy.py`` reads it to report the proxy's own cost.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Histogram

OVERHEAD_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.5)


class ProxyOverhead:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.seconds = Histogram(
            "causerie_proxy_overhead_seconds",
            "Time Causerie adds before an upstream's first token reaches the client",
            ["provider"],
            buckets=OVERHEAD_BUCKETS,
            registry=registry,
        )

    def first_written(
        self, received_at: float | None, served_by: str, upstream_wait: float | None
    ) -> None:
        """Record one request, when its first text has been written (nothing for the local
        model, or when the arrival was not stamped)."""
        if received_at is None or upstream_wait is None:
            return
        own = time.perf_counter() - received_at - upstream_wait
        self.seconds.labels(provider=served_by.partition("/")[0]).observe(max(0.0, own))
