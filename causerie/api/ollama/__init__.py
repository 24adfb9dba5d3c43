"""Ollama's API on the same server (docs/api.md, "Ollama API"): ``/api/chat``,
``/api/generate`` (newline-delimited JSON streams), ``/api/embed``, ``/api/tags``, ``/api/show``,
``/api/ps`` and ``/api/version``, for the editors and apps that speak only Ollama.

Chat and generate open their turns through ``ChatService.complete``, as ``/v1/chat/completions``
does: the same API keys, quotas, usage and stored conversations. ``schemas`` reads the requests,
``replies`` writes the answers and their streams, ``models`` describes the models, ``routes``
serves them; an error is ``{"error": "<message>"}`` (``responses.OLLAMA_PATHS``).
"""
