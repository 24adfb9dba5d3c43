"""Causerie: a self-hosted ChatGPT with an OpenAI-compatible API and an in-process model."""

__version__ = "0.1.0"
__all__ = ["__version__"]
