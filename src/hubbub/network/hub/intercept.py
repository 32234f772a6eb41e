"""Hub interceptors: code on the pipeline seam around every admitted envelope.

Given to ``Hub(store, interceptors=[...])`` (or ``Hub.open``). The base class passes
everything through; override what you need:

* ``intercept_admit(nxt)`` — return the function that admits an envelope,
  wrapping ``nxt`` (``await nxt(envelope, internal=...)`` admits it and returns the
  stamped copy once durable). Every admission goes through it: the connections'
  posts and the hub's own (opened, closed, violations). The first interceptor in
  the list is the outermost.
* ``on_durable(envelope)`` — called synchronously for every envelope once its WAL
  append is durable, just after it was dispatched (must not block or raise).

With no interceptors the pipeline runs exactly as without this module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from hubbub.network.envelope import Envelope

__all__ = ["AdmitFn", "HubInterceptor"]

AdmitFn = Callable[..., Awaitable[Envelope]]
"""``admit(envelope, *, internal=False) -> stamped envelope``."""


class HubInterceptor:
    """Pass-through base for hub interceptors."""

    def intercept_admit(self, nxt: AdmitFn) -> AdmitFn:
        """The admission function to use instead of ``nxt`` (default: ``nxt`` itself)."""
        return nxt

    def on_durable(self, envelope: Envelope) -> None:
        """An envelope's append is durable (default: nothing)."""

    def overrides(self, name: str) -> bool:
        """True when this interceptor's class overrides ``name`` (unused hooks cost nothing)."""
        method: Any = getattr(type(self), name, None)
        return method is not None and method is not getattr(HubInterceptor, name)
