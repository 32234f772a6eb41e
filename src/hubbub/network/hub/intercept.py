"""Hub interceptors: code around every admitted envelope, on the pipeline seam.

The one way cross-cutting code (tracing, metrics, budgets) plugs into the post
pipeline, as Temporal's interceptors do. Give them to ``Hub(store,
interceptors=[...])`` (or ``Hub.open``) or add one later with
``hub.register_interceptor``; the first is outermost. Subclass
:class:`HubInterceptor` and override what you need:

* ``async intercept_admit(envelope, call_next)`` — around every admission: the
  connections' posts and the hub's own (opened, closed, violations).
  ``await call_next(envelope)`` runs the inner interceptors and the pipeline and
  returns the envelope as logged (stamped, durable) or raises the error the sender
  gets; an interceptor may time it, trace it or refuse it (raise a
  ``NetworkError``). It runs in the posting task, so it should be quick.
* ``on_durable(envelope)`` — called synchronously for every envelope once its WAL
  append is durable, just after it was dispatched (must not block or raise).

A hook left as the base class has it costs nothing: the pipeline runs exactly as
without interceptors. Any object with an ``intercept_admit`` and/or ``on_durable``
method of these shapes is accepted too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from hubbub.network.envelope import Envelope

__all__ = ["AdmitCall", "HubInterceptor", "hooks_of"]

AdmitCall = Callable[[Envelope], Awaitable[Envelope]]
"""``call_next(envelope) -> the envelope as logged``."""


class HubInterceptor:
    """Pass-through base for hub interceptors (see the module docstring)."""

    async def intercept_admit(self, envelope: Envelope, call_next: AdmitCall) -> Envelope:
        """Admit ``envelope`` through ``call_next`` (default: just that)."""
        return await call_next(envelope)

    def on_durable(self, envelope: Envelope) -> None:
        """An envelope's append is durable (default: nothing)."""


def hooks_of(interceptor: Any) -> tuple[bool, bool]:
    """Which hooks ``interceptor`` really has: (``intercept_admit``, ``on_durable``)."""

    def has(name: str) -> bool:
        method = getattr(type(interceptor), name, None)
        return callable(method) and method is not getattr(HubInterceptor, name)

    return has("intercept_admit"), has("on_durable")
