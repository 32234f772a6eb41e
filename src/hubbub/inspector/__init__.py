"""The web inspector: agents, sessions, a session timeline with a step control, the audit log.

A thin shell over a hub's store (offline, ``hubbub inspect``) or over the hub in
the same process (live, ``hubbub serve --ui``); it holds no hub logic of its own:
states come from folding WAL prefixes through the pure session machine, live
envelopes from the hub's observer subscription. See :mod:`hubbub.inspector.app`
for the pages and the JSON API.
"""

from __future__ import annotations

from hubbub.inspector.app import TOKEN_COOKIE, build_app
from hubbub.inspector.reader import StoreReader
from hubbub.inspector.server import (
    DEFAULT_UI_PORT,
    live_inspector,
    offline_inspector,
    serve_inspector,
)

__all__ = [
    "DEFAULT_UI_PORT",
    "TOKEN_COOKIE",
    "StoreReader",
    "build_app",
    "live_inspector",
    "offline_inspector",
    "serve_inspector",
]
