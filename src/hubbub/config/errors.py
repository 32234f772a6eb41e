"""Errors raised by the model-provider clients.

Every SDK exception that escapes a provider call is wrapped at the boundary with
``raise ... from exc``, so the original stays available as ``__cause__``::

    ProviderError                      (any provider failure; .provider, .model)
    ├── MissingCredentialsError        (no API key configured; .variable names the env var)
    ├── ProviderTimeoutError           (also a builtin TimeoutError; SDK request timeout)
    ├── ProviderConnectionError        (also a builtin ConnectionError; unreachable server)
    └── ProviderStatusError            (HTTP error status after the SDK's retries; .status_code)
        ├── ProviderAuthError          (401/403)
        └── ProviderRateLimitError     (429)

``ProviderError`` is a :class:`hubbub.exceptions.HubbubError`. An input part a provider
cannot take raises :class:`hubbub.exceptions.UnsupportedInputError` instead.

Catching these never requires importing an SDK.
"""

from __future__ import annotations

from hubbub.exceptions import HubbubError

__all__ = [
    "MissingCredentialsError",
    "ProviderAuthError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderRateLimitError",
    "ProviderStatusError",
    "ProviderTimeoutError",
]


class ProviderError(HubbubError):
    """A model-provider call failed.

    Attributes:
        provider: Provider name, e.g. ``"anthropic"``.
        model: The model the call was for.
    """

    def __init__(self, message: str, *, provider: str, model: str) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model


class MissingCredentialsError(ProviderError):
    """No credentials are configured for the provider; raised by the first call, before
    any request is sent.

    Attributes:
        variable: The environment variable to set (``"ANTHROPIC_API_KEY"``).
    """

    def __init__(self, message: str, *, provider: str, model: str, variable: str) -> None:
        super().__init__(message, provider=provider, model=model)
        self.variable = variable


def missing_key_error(
    *, provider: str, model: str, variable: str, config: str
) -> MissingCredentialsError:
    """The :class:`MissingCredentialsError` of a config with no key (message names ``variable``)."""
    label = {"anthropic": "Anthropic", "openai": "OpenAI"}.get(provider, provider)
    return MissingCredentialsError(
        f"no {label} API key for model {model!r}: set the {variable} environment variable "
        f"(or pass {config}(api_key=...))",
        provider=provider,
        model=model,
        variable=variable,
    )


class ProviderTimeoutError(ProviderError, TimeoutError):
    """The provider did not answer within the configured ``timeout`` (retries included)."""


class ProviderConnectionError(ProviderError, ConnectionError):
    """The provider endpoint could not be reached."""


class ProviderStatusError(ProviderError):
    """The provider answered with an HTTP error status (after the SDK's retries).

    Attributes:
        status_code: The HTTP status of the final attempt.
    """

    def __init__(self, message: str, *, provider: str, model: str, status_code: int) -> None:
        super().__init__(message, provider=provider, model=model)
        self.status_code = status_code


class ProviderAuthError(ProviderStatusError):
    """The credentials were rejected (HTTP 401/403)."""


class ProviderRateLimitError(ProviderStatusError):
    """The provider kept rate-limiting the call (HTTP 429)."""


def status_error(
    message: str, *, provider: str, model: str, status_code: int
) -> ProviderStatusError:
    """Return the most specific :class:`ProviderStatusError` for ``status_code``."""
    cls: type[ProviderStatusError] = ProviderStatusError
    if status_code in (401, 403):
        cls = ProviderAuthError
    elif status_code == 429:
        cls = ProviderRateLimitError
    return cls(message, provider=provider, model=model, status_code=status_code)
