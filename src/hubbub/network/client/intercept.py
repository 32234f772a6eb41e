"""Client interceptors: code around a client's turns and posts (tracing, budgets, ...).

An interceptor is given to ``HubClient(link, interceptors=[...])``. Each method gets
what it wraps and a ``nxt`` to call; the first interceptor in the list is the
outermost. The base class passes everything through, so a subclass overrides only
what it needs. With no interceptors the client calls nothing extra.

* ``intercept_turn(envelope, client, observers, nxt)`` — one default-handler turn
  answering ``envelope``; ``await nxt(observers)`` runs it (``observers`` are
  registered on the turn's stream: add yours) and returns the reply it posted, or
  None.
* ``intercept_post(envelope, nxt)`` — one envelope an agent of this client posts;
  ``await nxt(envelope)`` posts it and returns the stamped copy the hub logged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from hubbub.network.envelope import Envelope
from hubbub.plugin import Observer

if TYPE_CHECKING:
    from hubbub.network.client.agent_client import AgentClient

__all__ = ["ClientInterceptor", "PostNext", "TurnNext", "intercept_post", "intercept_turn"]

TurnNext = Callable[[tuple[Observer, ...]], Awaitable[Envelope | None]]
PostNext = Callable[[Envelope], Awaitable[Envelope]]


class ClientInterceptor:
    """Pass-through base: override ``intercept_turn`` and/or ``intercept_post``."""

    async def intercept_turn(
        self,
        envelope: Envelope,
        client: AgentClient,
        observers: tuple[Observer, ...],
        nxt: TurnNext,
    ) -> Envelope | None:
        """Run the turn answering ``envelope`` (``await nxt(observers)``)."""
        return await nxt(observers)

    async def intercept_post(self, envelope: Envelope, nxt: PostNext) -> Envelope:
        """Post ``envelope`` (``await nxt(envelope)``)."""
        return await nxt(envelope)


async def intercept_post(
    interceptors: Sequence[ClientInterceptor], envelope: Envelope, post: PostNext
) -> Envelope:
    """``post(envelope)`` through ``interceptors`` (the first one outermost)."""

    def bind(interceptor: ClientInterceptor, inner: PostNext) -> PostNext:
        async def call(env: Envelope) -> Envelope:
            return await interceptor.intercept_post(env, inner)

        return call

    chain = post
    for interceptor in reversed(interceptors):
        chain = bind(interceptor, chain)
    return await chain(envelope)


async def intercept_turn(
    interceptors: Sequence[ClientInterceptor],
    envelope: Envelope,
    client: AgentClient,
    turn: TurnNext,
) -> Envelope | None:
    """``turn(())`` through ``interceptors`` (the first one outermost)."""

    def bind(interceptor: ClientInterceptor, inner: TurnNext) -> TurnNext:
        async def call(observers: tuple[Observer, ...]) -> Envelope | None:
            return await interceptor.intercept_turn(envelope, client, observers, inner)

        return call

    chain = turn
    for interceptor in reversed(interceptors):
        chain = bind(interceptor, chain)
    return await chain(())
