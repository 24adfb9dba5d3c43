"""Causerie's exceptions. Each maps to one OpenAI-style error in ``api/errors.py``.

::

    CauserieError
    ├── InvalidRequestError            400 invalid_request_error
    │   ├── ContextLengthExceededError 400 code=context_length_exceeded
    │   ├── UnsupportedParameterError  400 code=unsupported_parameter
    │   └── PrivacyBlockedError        400 code=privacy_blocked (the privacy firewall refused)
    ├── AuthenticationError            401 authentication_error (no or bad credentials)
    │   └── LoginRequiredError         401 (a page: the browser is sent to /login)
    ├── PermissionDeniedError          403 permission_error (signed in, but not allowed)
    ├── NotFoundError                  404 not_found_error
    │   └── ModelNotFoundError         404 code=model_not_found
    ├── ConflictError                  409 invalid_request_error (e.g. a username taken)
    ├── PayloadTooLargeError           413 invalid_request_error
    ├── ProviderError                  502 server_error (an upstream failed mid-reply)
    │   └── ProviderUnavailableError   503 (failed before its first token: fail over)
    │       ├── RateLimitedError       429 rate_limit_error (upstream 429, with retry_after)
    │       └── EngineUnavailableError 503, Retry-After (the engine process is restarting)
    ├── TooManyRequestsError           429 rate_limit_error, with Retry-After
    │   ├── OverloadedError            the engine's queue is full
    │   └── QuotaExceededError         a per-user limit (tokens/day, requests/min, concurrent)
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


class AuthenticationError(CauserieError):
    """No credentials, or credentials that do not (or no longer) work."""

    code = "invalid_api_key"


class LoginRequiredError(AuthenticationError):
    """A page needs a signed-in user."""

    code = "login_required"


class PermissionDeniedError(CauserieError):
    """The caller is known but may not do this (e.g. a user on an admin page)."""

    code = "permission_denied"


class ConflictError(CauserieError):
    """The request clashes with what exists (a username already taken...)."""

    code = "conflict"


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


class EngineUnavailableError(ProviderUnavailableError):
    """The local engine's process stopped and is restarting; ``retry_after`` says when to try."""

    code = "engine_unavailable"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyRequestsError(CauserieError):
    """Not now: try again after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class OverloadedError(TooManyRequestsError):
    """Too many requests are waiting in the engine."""

    code = "server_overloaded"


class QuotaExceededError(TooManyRequestsError):
    """The caller is over one of their limits; ``code`` names which."""

    code = "rate_limit_exceeded"


class EngineError(CauserieError):
    """The inference engine failed while producing a reply."""


class ConfigurationError(CauserieError):
    """The settings cannot work (missing model file, unusable database URL...)."""
