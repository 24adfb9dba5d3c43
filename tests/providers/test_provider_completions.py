"""The legacy ``/v1/completions`` through a remote provider: a real `causerie serve` proxy in front
of a second real `causerie serve` upstream, with a Relay between them that records the paths and
bodies it forwards. The prompt reaches the upstream's own ``/v1/completions`` as written (with
personal data redacted for an external provider), and its text comes back unchanged, JSON or
streamed."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from tests.conftest import Server
from tests.helpers import client_for
from tests.providers.conftest import served_with
from tests.providers.relay import Relay

MODEL = "gemma-3-270m-q4_k_m"
PROMPT = "The capital of France is"


class PathRelay(Relay):
    """A Relay that also records the path of every request (below ``/v1/``)."""

    def __init__(self, target_api_url: str) -> None:
        super().__init__(target_api_url)
        self.paths: list[str] = []

    async def _handle(self, request: Request) -> Response:
        self.paths.append(request.path_params["path"])
        return await super()._handle(request)


def test_completions_reach_the_upstreams_completions(
    tmp_path: Path, model_dir: Path, upstream: Server
) -> None:
    relay = PathRelay(upstream.api_url).start()
    providers = f"""
[providers.up]
base_url = "{relay.api_url}"
privacy = "trusted"
models = ["{MODEL}"]

[providers.ext]
base_url = "{relay.api_url}"
privacy = "external"
models = ["{MODEL}"]
"""
    try:
        with (
            served_with(tmp_path, model_dir, providers) as proxy,
            client_for(proxy) as client,
            client_for(upstream) as direct,
        ):
            expected = direct.completions.create(
                model=MODEL, prompt=PROMPT, max_tokens=8, temperature=0, seed=7
            )
            proxied = client.completions.create(
                model=f"up/{MODEL}", prompt=PROMPT, max_tokens=8, temperature=0, seed=7, echo=True
            )
            assert relay.paths[-1] == "completions"
            sent = relay.bodies[-1]
            assert "messages" not in sent and "echo" not in sent
            assert (sent["prompt"], sent["max_tokens"], sent["seed"]) == (PROMPT, 8, 7)
            assert proxied.choices[0].text == PROMPT + expected.choices[0].text
            assert proxied.choices[0].finish_reason == expected.choices[0].finish_reason
            assert proxied.usage.completion_tokens == expected.usage.completion_tokens
            assert proxied.usage.prompt_tokens == expected.usage.prompt_tokens
            assert proxied.model == f"up/{MODEL}"

            stream = client.completions.create(
                model=f"up/{MODEL}", prompt=PROMPT, max_tokens=8, temperature=0, seed=7, stream=True
            )
            assert "".join(c.choices[0].text for c in stream if c.choices) == (
                expected.choices[0].text
            )
            assert relay.paths[-1] == "completions"

            private = "Write to alice@example.com about"
            redacted = client.completions.create(
                model=f"ext/{MODEL}", prompt=private, max_tokens=4, temperature=0
            )
            assert redacted.choices[0].text is not None
            assert relay.paths[-1] == "completions"
            assert "alice@example.com" not in relay.bodies[-1]["prompt"]
            assert relay.bodies[-1]["prompt"].startswith("Write to ")
    finally:
        relay.stop()
