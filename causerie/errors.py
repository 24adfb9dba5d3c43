"""Causerie's exceptions. Each class carries its HTTP status and OpenAI error type
(``status``, ``type``) and gives its envelope (``envelope()``); ``responses.py`` turns one into a
response for the API and the pages alike.

::

    CauserieError
    ├── InvalidRequestError            400 invalid_request_error
    │   ├── ContextLengthExceededError 400 code=context_length_exceeded
    │   ├── UnsupportedParameterError  400 code=unsupported_parameter
    │   ├── UnsupportedFileError       400 code=unsupported_file (an upload we cannot read)
    │   ├── ImportFormatError          400 code=invalid_import (an export we cannot import)
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
    """Base class. ``param`` and ``code`` follow OpenAI's error object; ``status`` and ``type``
    are the HTTP status and OpenAI error type the class stands for; ``retry_after`` (seconds)
    becomes a Retry-After header where it is set."""

    status: int = 500
    type: str = "server_error"
    code: str | None = None
    retry_after: float | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def envelope(self) -> dict[str, dict[str, str | None]]:
        """OpenAI's error envelope: ``{"error": {"message", "type", "param", "code"}}``."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequestError(CauserieError):
    """The request is malformed or asks for something impossible."""

    status = 400
    type = "invalid_request_error"


class ContextLengthExceededError(InvalidRequestError):
    code = "context_length_exceeded"


class UnsupportedParameterError(InvalidRequestError):
    code = "unsupported_parameter"


class UnsupportedFileError(InvalidRequestError):
    code = "unsupported_file"


class ImportFormatError(InvalidRequestError):
    """An uploaded export is not one Causerie can import: not a zip, damaged, unsafe, too
    large, or not in a known format. ``code`` says which family (``invalid_import``,
    ``import_too_large``, ``unsupported_import``)."""

    code = "invalid_import"


class AuthenticationError(CauserieError):
    """No credentials, or credentials that do not (or no longer) work."""

    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class LoginRequiredError(AuthenticationError):
    """A page needs a signed-in user."""

    code = "login_required"


class PermissionDeniedError(CauserieError):
    """The caller is known but may not do this (e.g. a user on an admin page)."""

    status = 403
    type = "permission_error"
    code = "permission_denied"


class ConflictError(CauserieError):
    """The request clashes with what exists (a username already taken...)."""

    status = 409
    type = "invalid_request_error"
    code = "conflict"


class NotFoundError(CauserieError):
    """The object asked for does not exist (or is not the caller's)."""

    status = 404
    type = "not_found_error"


class ModelNotFoundError(NotFoundError):
    code = "model_not_found"


class PayloadTooLargeError(CauserieError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class PrivacyBlockedError(InvalidRequestError):
    """The privacy firewall refused to send this request to an external provider."""

    code = "privacy_blocked"


class ProviderError(CauserieError):
    """An upstream provider failed after its reply had started (never replayed elsewhere)."""

    status = 502
    type = "server_error"
    code = "upstream_error"


class ProviderUnavailableError(ProviderError):
    """An upstream failed before its first token: another target may serve the request."""

    status = 503
    code = "provider_unavailable"


class RateLimitedError(ProviderUnavailableError):
    """An upstream answered 429; ``retry_after`` is its Retry-After in seconds, when it gave one."""

    status = 429
    type = "rate_limit_error"
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


class ModelMemoryError(ProviderUnavailableError):
    """A local model does not fit the local models' memory budget, even alone beside the
    default model."""

    code = "insufficient_memory"


class TooManyRequestsError(CauserieError):
    """Not now: try again after ``retry_after`` seconds."""

    status = 429
    type = "rate_limit_error"
    retry_after: float

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
