"""Causerie's exceptions. Each maps to one OpenAI-style error in ``api/errors.py``.

::

    CauserieError
    ├── InvalidRequestError            400 invalid_request_error
    │   ├── ContextLengthExceededError 400 code=context_length_exceeded
    │   ├── UnsupportedParameterError  400 code=unsupported_parameter
    │   └── PrivacyBlockedError        400 code=privacy_blocked (the privacy firewall refused)
    ├── NotFoundError                  404 not_found_error
    │   └── ModelNotFoundError         404 code=model_not_found
    ├── PayloadTooLargeError           413 invalid_request_error
    ├── ProviderError                  502 server_error (an upstream failed mid-reply)
    │   └── ProviderUnavailableError   503 (failed before its first token: fail over)
    │       └── RateLimitedError       429 rate_limit_error (upstream 429, with retry_after)
    ├── OverloadedError                429 rate_limit_error, with Retry-After
    ├── EngineError                    500 server_error (the model failed)
    └── ConfigurationError             raised at start-up, never over HTTP
"""

from __future__ import annotations


class CauserieError(Exception):
    """Base class. ``param`` and ``code`` follow OpenAI's error object."""

    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class InvalidRequestError(CauserieError):
    """The request is malformed or asks for something impossible."""


class ContextLengthExceededError(InvalidRequestError):
    code = "context_length_exceeded"


class UnsupportedParameterError(InvalidRequestError):
    code = "unsupported_parameter"


class NotFoundError(CauserieError):
    """The object asked for does not exist (or is not the caller's)."""


class ModelNotFoundError(NotFoundError):
    code = "model_not_found"


class PayloadTooLargeError(CauserieError):
    code = "request_too_large"


class PrivacyBlockedError(InvalidRequestError):
    """The privacy firewall refused to send this request to an external provider."""

    code = "privacy_blocked"


class ProviderError(CauserieError):
    """An upstream provider failed after its reply had started (never replayed elsewhere)."""

    code = "upstream_error"


class ProviderUnavailableError(ProviderError):
    """An upstream failed before its first token: another target may serve the request."""

    code = "provider_unavailable"


class RateLimitedError(ProviderUnavailableError):
    """An upstream answered 429; ``retry_after`` is its Retry-After in seconds, when it gave one."""

    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OverloadedError(CauserieError):
    """Too many requests are waiting; try again after ``retry_after`` seconds."""

    code = "server_overloaded"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EngineError(CauserieError):
    """The inference engine failed while producing a reply."""


class ConfigurationError(CauserieError):
    """The settings cannot work (missing model file, unusable database URL...)."""
