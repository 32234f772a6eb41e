"""The router: who is connected, and who gets a durable envelope.

It owns the attached endpoints and the :class:`Connection` of each, which
agent's envelopes go to which endpoint (presence), the callers waiting for
agents to come online, the per-recipient count of delivered envelopes not yet
receipted (the inbox), and the observers. :meth:`Router.dispatch` is the one
place that decides who receives an envelope; :meth:`Router.delivered_to` asks
the same question of an envelope read back from the WAL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hubbub.network.envelope import EV_SESSION_INVITE_ACK, EV_SESSION_INVITE_REJECT, Envelope
from hubbub.network.errors import NotFoundError
from hubbub.network.hub.arbiter import ALLOW, Deny
from hubbub.network.hub.registry import Registry
from hubbub.network.hub.seam import HubSeam

if TYPE_CHECKING:
    from hubbub.network.hub.connection import Connection
    from hubbub.network.hub.observers import Observer

__all__ = ["Router"]

log = logging.getLogger("hubbub.hub")


class Router:
    """Endpoints, agent bindings, presence, inbox counts and observers.

    Args:
        registry: the agents' rules and passports.
        seam: its arbiter decides who gets an envelope (``authorize_dispatch``); its
            listeners hear of failed deliveries and inbox pressure.
    """

    def __init__(self, registry: Registry, seam: HubSeam) -> None:
        self._registry = registry
        self._seam = seam
        self.endpoints: dict[str, Any] = {}  # endpoint id → endpoint
        self.connections: dict[str, Connection] = {}  # endpoint id → its Connection
        self.bound: dict[str, Any] = {}  # agent id → the endpoint its envelopes go to
        # agent id → envelopes delivered and not yet receipted (absent: none)
        self.pending_inbox: dict[str, int] = {}
        self.observers: dict[tuple[str, str], Observer] = {}  # (endpoint id, subscription id)
        self._presence_waiters: set[asyncio.Future[None]] = set()

    # ------------------------------------------------------------------ endpoints

    def attach(self, endpoint: Any, connection: Connection) -> None:
        """Attach an endpoint and the Connection bound to it."""
        self.endpoints[endpoint.endpoint_id] = endpoint
        self.connections[endpoint.endpoint_id] = connection

    def bind(self, endpoint_id: str, agent_id: str) -> None:
        """Deliver ``agent_id``'s envelopes to the endpoint; NotFoundError if either is unknown."""
        endpoint = self.endpoints.get(endpoint_id)
        if endpoint is None:
            raise NotFoundError(f"unknown endpoint {endpoint_id!r}")
        self._registry.require(agent_id)
        self.bound[agent_id] = endpoint
        if self._presence_waiters:
            waiters, self._presence_waiters = self._presence_waiters, set()
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def unbind(self, agent_id: str) -> None:
        """Forget an agent's binding and inbox count (it unregistered)."""
        self.bound.pop(agent_id, None)
        self.pending_inbox.pop(agent_id, None)

    def detach(self, endpoint_id: str) -> None:
        """Forget an endpoint, its observers and every agent binding to it."""
        self.connections.pop(endpoint_id, None)
        for key in [k for k in self.observers if k[0] == endpoint_id]:
            del self.observers[key]
        endpoint = self.endpoints.pop(endpoint_id, None)
        if endpoint is None:
            return
        for agent_id in [a for a, e in self.bound.items() if e is endpoint]:
            del self.bound[agent_id]
            # What was delivered and never receipted is not pending any more: a client
            # that reconnects gets it again from the WAL (its cursors), and receipts that.
            self.pending_inbox.pop(agent_id, None)

    async def close(self) -> None:
        """The hub shuts down: refuse every connection's calls, close every endpoint."""
        for connection in list(self.connections.values()):
            connection.mark_closed()
        self.connections.clear()
        for endpoint in list(self.endpoints.values()):
            try:
                await endpoint.close()
            except Exception:
                log.exception("closing endpoint failed")
        self.endpoints.clear()
        self.bound.clear()

    # ------------------------------------------------------------------ presence

    def is_online(self, agent_id: str) -> bool:
        """True while ``agent_id`` is bound to an attached endpoint."""
        return agent_id in self.bound

    async def wait_online(self, agent_ids: list[str], *, timeout: float = 0.0) -> list[str]:  # noqa: ASYNC109
        """Wait up to ``timeout`` seconds for every agent to be bound; returns those still not."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            offline = [a for a in agent_ids if a not in self.bound]
            remaining = deadline - loop.time()
            if not offline or remaining <= 0:
                return offline
            waiter: asyncio.Future[None] = loop.create_future()
            self._presence_waiters.add(waiter)  # bind wakes every waiter
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                pass
            finally:
                self._presence_waiters.discard(waiter)

    # ------------------------------------------------------------------ inbox

    def receipt(self, recipient_id: str) -> None:
        """A recipient finished handling a delivered envelope: release its inbox slot."""
        pending = self.pending_inbox.get(recipient_id, 0)
        if pending > 1:
            self.pending_inbox[recipient_id] = pending - 1
        elif pending == 1:
            del self.pending_inbox[recipient_id]

    def clear_inbox(self) -> None:
        """Forget every inbox count (before hydrate: nothing delivered is pending)."""
        self.pending_inbox.clear()

    def pending(self, agent_id: str) -> int:
        """Envelopes delivered to ``agent_id`` and not yet receipted."""
        return self.pending_inbox.get(agent_id, 0)

    # ------------------------------------------------------------------ delivery

    def dispatch(self, env: Envelope, pids: Sequence[str]) -> None:
        """A durable envelope: deliver it to every connected recipient, offer it to the observers.

        Recipients are the audience (or every participant but the sender), each
        if the arbiter's ``authorize_dispatch`` allows (by default: its rule's
        ``inbound_from`` accepts the sender); invite answers go to observers only.
        Every delivery counts against the recipient's inbox until its client sends
        the receipt. Never raises; a denied or failed delivery is reported to the
        listeners (``on_dispatch_failed``), and so is an inbox reaching its
        high-water mark (``on_inbox_pressure``).
        """
        et = env.event_type
        if et != EV_SESSION_INVITE_ACK and et != EV_SESSION_INVITE_REJECT:
            sender = env.sender_id
            audience = env.audience
            bound = self.bound
            inbox = self.pending_inbox
            registry = self._registry
            rules = registry.rules
            passports = registry.passports
            sender_p = passports.get(sender)
            seam = self._seam
            authorize = seam.arbiter.authorize_dispatch
            for rid in pids if audience is None else audience:
                if audience is None and rid == sender:
                    continue
                endpoint = bound.get(rid)
                if endpoint is None:
                    continue
                rule = rules.get(rid)
                verdict = authorize(env, sender_p, passports.get(rid), rule)
                if verdict is not ALLOW and isinstance(verdict, Deny):
                    if seam.listeners:
                        seam.emit("on_dispatch_failed", env, rid, verdict.exception())
                    continue
                pending = inbox[rid] = inbox.get(rid, 0) + 1
                try:
                    endpoint.deliver(rid, env)
                except Exception as exc:
                    log.exception("dispatch of %s to %s failed", env.envelope_id, rid)
                    if seam.listeners:
                        seam.emit("on_dispatch_failed", env, rid, exc)
                if seam.listeners and rule is not None:
                    high_water = rule.limits.inbox.effective_high_water()
                    if high_water and pending == high_water:
                        seam.emit("on_inbox_pressure", rid, pending, high_water)
        if self.observers:
            for observer in list(self.observers.values()):
                observer.offer(env)

    def delivered_to(self, env: Envelope, rid: str) -> bool:
        """Would :meth:`dispatch` hand this logged envelope to ``rid`` (were it connected)?

        For resending what a reconnecting client missed: the same rule, read back
        from the WAL.
        """
        if env.event_type in (EV_SESSION_INVITE_ACK, EV_SESSION_INVITE_REJECT):
            return False
        if env.audience is None:
            if rid == env.sender_id:
                return False
        elif rid not in env.audience:
            return False
        passports = self._registry.passports
        verdict = self._seam.arbiter.authorize_dispatch(
            env, passports.get(env.sender_id), passports.get(rid), self._registry.rules.get(rid)
        )
        return not isinstance(verdict, Deny)

    # ------------------------------------------------------------------ observers

    def subscribe(self, endpoint_id: str, observer: Observer) -> None:
        """Send ``observer`` every envelope made durable from now on (replaces one of its id)."""
        self.observers[(endpoint_id, observer.subscription_id)] = observer

    def unsubscribe(self, endpoint_id: str, subscription_id: str) -> None:
        """Stop an observer; unknown ones are ignored."""
        self.observers.pop((endpoint_id, subscription_id), None)
