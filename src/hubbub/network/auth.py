"""Authentication adapters: how a registering agent's claim is checked.

``AuthRegistry`` maps ``Passport.auth.scheme`` to an adapter; the hub awaits
``adapter.validate(passport, passport.auth.claim)`` before registering.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

from hubbub.network.errors import AuthError
from hubbub.network.identity import Passport

__all__ = ["ApiKeyAuth", "AuthAdapter", "AuthRegistry", "NoAuth"]


@runtime_checkable
class AuthAdapter(Protocol):
    """Validates the claim a passport presents for one scheme."""

    scheme: str

    async def validate(self, passport: Passport, claim: dict[str, Any]) -> None:
        """Return if the claim is good; raise AuthError to reject."""
        ...


class NoAuth:
    """Scheme ``"none"``: accepts every passport."""

    scheme = "none"

    async def validate(self, passport: Passport, claim: dict[str, Any]) -> None:
        """Accept unconditionally."""
        return None


class ApiKeyAuth:
    """Scheme ``"api_key"``: ``claim["token"]`` must equal the key issued for the name.

    Keys come from a static mapping ``{agent name: key}`` and/or an async
    ``resolver(name) -> key | None`` (for rotation without restart). Comparison
    is constant-time.
    """

    scheme = "api_key"

    def __init__(
        self,
        keys: Mapping[str, str] | None = None,
        *,
        resolver: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        self._keys = dict(keys or {})
        self._resolver = resolver

    async def validate(self, passport: Passport, claim: dict[str, Any]) -> None:
        """Raise AuthError unless the presented token matches the agent's key."""
        token = claim.get("token")
        if not isinstance(token, str) or not token:
            raise AuthError(f"api_key auth for {passport.name!r}: claim has no token")
        expected = self._keys.get(passport.name)
        if expected is None and self._resolver is not None:
            expected = await self._resolver(passport.name)
        # Compare against a dummy when no key exists so timing does not reveal names.
        ok = hmac.compare_digest(token.encode(), (expected or "\x00" * len(token)).encode())
        if expected is None or not ok:
            raise AuthError(f"api_key auth for {passport.name!r}: invalid token")


class AuthRegistry:
    """Scheme name → adapter lookup used by the hub at registration."""

    _default: ClassVar[AuthRegistry | None] = None

    def __init__(self, adapters: Iterable[AuthAdapter] = ()) -> None:
        self._adapters: dict[str, AuthAdapter] = {}
        for adapter in adapters:
            self.register(adapter)

    @classmethod
    def default(cls) -> AuthRegistry:
        """The process-wide registry holding only NoAuth."""
        if cls._default is None:
            cls._default = AuthRegistry([NoAuth()])
        return cls._default

    def register(self, adapter: AuthAdapter, scheme: str | None = None) -> AuthRegistry:
        """Add (or replace) the adapter for its scheme; returns self for chaining.

        ``register("hmac", adapter)`` (the docs' argument order) is accepted too.
        """
        if isinstance(adapter, str):  # docs spelling: register(scheme, adapter)
            adapter, scheme = scheme, adapter  # type: ignore[assignment]
        self._adapters[scheme or adapter.scheme] = adapter
        return self

    def get(self, scheme: str) -> AuthAdapter:
        """Return the adapter for ``scheme``; AuthError if none is registered."""
        try:
            return self._adapters[scheme]
        except KeyError:
            raise AuthError(f"unknown auth scheme {scheme!r}") from None

    def schemes(self) -> list[str]:
        """Registered scheme names, sorted."""
        return sorted(self._adapters)
