"""The inspector's web application (Starlette): four pages and the JSON API they read.

Pages (plain HTML and a little JavaScript from ``static/``, no build step):
``/agents``, ``/sessions``, ``/sessions/{id}`` (timeline, step control, live
tail, usage) and ``/audit``.

API (JSON; every route read-only):

| route | what |
|---|---|
| ``GET /api/info`` | mode (``offline``/``live``), session types |
| ``GET /api/agents`` | passports, online flags (live), usage per agent |
| ``GET /api/sessions?state=&type=&agent=&q=&limit=&offset=`` | one page of the listing and the count |
| ``GET /api/sessions/{id}`` | creation metadata, every envelope, violations, usage, final state |
| ``GET /api/sessions/{id}/state?at=N`` | the state after the first N envelopes (the fold) |
| ``GET /api/sessions/{id}/events?after=SEQ`` | live tail, Server-Sent Events (one envelope per event) |
| ``GET /api/audit?kind=&session_id=&limit=&offset=`` | audit records, newest first |

Every request must carry a credential the hub's ``ServerAuth`` accepts (the
same tokens as ``hubbub serve``): ``Authorization: Bearer TOKEN`` (or
``Hmac TOKEN``), or ``?token=TOKEN`` once — the answer then sets a cookie and
the browser keeps it. With ``--insecure-no-auth`` no credential is needed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from hubbub.inspector.feeds import Feed
from hubbub.inspector.reader import LIST_STATES, StoreReader, envelope_json
from hubbub.network.auth import ServerAuth
from hubbub.network.envelope import EV_SESSION_CLOSED, EV_SESSION_EXPIRED
from hubbub.network.errors import NetworkError

__all__ = ["TOKEN_COOKIE", "build_app"]

#: The cookie that keeps the browser's credential after ``?token=``.
TOKEN_COOKIE = "hubbub_inspector_token"

#: Online agent ids, asked of the hub (live mode), or None (offline).
OnlineAgents = Callable[[], Awaitable[set[str]]]

_MAX_LIMIT = 500


def _json(data: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(data, default=str), status_code=status, media_type="application/json"
    )


def _error(status: int, code: str, message: str) -> Response:
    return _json({"error": {"code": code, "message": message}}, status)


def _int_param(request: Request, name: str, default: int, maximum: int | None = None) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise _BadParam(f"{name} must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise _BadParam(f"{name} must be a non-negative integer, got {text!r}")
    return min(value, maximum) if maximum is not None else value


class _BadParam(Exception):
    pass


def _page(name: str) -> str:
    return resources.files("hubbub.inspector").joinpath("static", name).read_text("utf-8")


def build_app(
    reader: StoreReader,
    feed: Feed,
    auth: ServerAuth,
    *,
    online_agents: OnlineAgents | None = None,
) -> Starlette:
    """The inspector's application over ``reader`` (history) and ``feed`` (the live tail).

    Args:
        reader: reads the hub's store.
        feed: new envelopes for the live tail.
        auth: the credentials accepted (as ``hubbub serve`` builds them).
        online_agents: live mode: the ids of the agents with a live connection.
    """

    async def authenticate(request: Request) -> str | None:
        """The principal of the request's credential, or None if it has none that passes."""
        token = request.query_params.get("token") or request.cookies.get(TOKEN_COOKIE)
        schemes = [s for s in auth.schemes() if s != "none"]
        header = request.headers.get("authorization")
        if header and " " in header:
            scheme, _, token = header.partition(" ")
            schemes = [scheme.lower()]
        if token:
            for scheme in schemes:
                try:
                    return await auth.authenticate(scheme, {"token": token})
                except NetworkError:
                    continue
            return None
        try:
            return await auth.authenticate("none", {})
        except NetworkError:
            return None

    def guarded(
        handler: Callable[[Request], Awaitable[Response]], *, page: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            if await authenticate(request) is None:
                if page:
                    return HTMLResponse(_page("login.html"), status_code=401)
                return _error(401, "unauthenticated", "present a token the hub accepts")
            token = request.query_params.get("token")
            if token and page:
                # Keep the credential in a cookie and drop it from the address bar.
                query = "&".join(
                    f"{k}={v}" for k, v in request.query_params.items() if k != "token"
                )
                response: Response = RedirectResponse(
                    request.url.path + (f"?{query}" if query else ""), status_code=303
                )
                response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
                return response
            try:
                return await handler(request)
            except _BadParam as exc:
                return _error(400, "invalid_value", str(exc))
            except NetworkError as exc:
                return _error(400, exc.code, exc.message)

        return run

    def static_page(name: str) -> Callable[[Request], Awaitable[Response]]:
        async def show(request: Request) -> Response:
            return HTMLResponse(_page(name))

        return guarded(show, page=True)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        types = {"js": "text/javascript", "css": "text/css"}
        kind = name.rsplit(".", 1)[-1]
        if kind not in types or "/" in name or name.startswith("."):
            return _error(404, "not_found", f"no asset {name!r}")
        try:
            text = _page(name)
        except FileNotFoundError:
            return _error(404, "not_found", f"no asset {name!r}")
        return Response(text, media_type=types[kind])

    async def root(request: Request) -> Response:
        return RedirectResponse(
            "/sessions" + (f"?{request.url.query}" if request.url.query else "")
        )

    async def info(request: Request) -> Response:
        await reader.refresh()
        return _json({"mode": "live" if feed.live else "offline", "types": reader.session_types()})

    async def agents(request: Request) -> Response:
        passports = await reader.agents()
        usage = await reader.agent_usage()
        online = await online_agents() if online_agents is not None else None
        out = []
        for p in passports:
            aid = str(p.get("agent_id"))
            out.append(
                {
                    "agent_id": aid,
                    "name": p.get("name"),
                    "kind": p.get("kind"),
                    "online": None if online is None else aid in online,
                    "usage": usage.get(aid, {"sessions": 0, "replies": 0}),
                }
            )
        return _json({"agents": out})

    async def sessions(request: Request) -> Response:
        params = request.query_params
        state = params.get("state") or None
        if state is not None and state not in LIST_STATES:
            raise _BadParam(f"state must be one of {', '.join(LIST_STATES)}, got {state!r}")
        limit = _int_param(request, "limit", 50, _MAX_LIMIT)
        offset = _int_param(request, "offset", 0)
        total, page = await reader.list_sessions(
            state=state,
            type=params.get("type") or None,
            agent=params.get("agent") or None,
            q=params.get("q") or None,
            limit=limit,
            offset=offset,
        )
        names = await reader.names()
        return _json(
            {
                "total": total,
                "offset": offset,
                "limit": limit,
                "sessions": [s.to_json(names) for s in page],
            }
        )

    async def session(request: Request) -> Response:
        sid = request.path_params["session_id"]
        meta = await reader.creation(sid)
        if meta is None:
            return _error(404, "not_found", f"no session {sid!r}")
        lines = await reader.wal_lines(sid)
        envelopes = reader.envelopes(sid, lines)
        names = await reader.names()
        violations = await reader.audit(session_id=sid, kind="expectation_violated")
        closes = [e for e in envelopes if e.event_type in (EV_SESSION_CLOSED, EV_SESSION_EXPIRED)]
        return _json(
            {
                "session": meta.to_dict(),
                "names": {p.agent_id: names.get(p.agent_id, p.agent_id) for p in meta.participants},
                "envelopes": [envelope_json(e) for e in envelopes],
                "violations": violations,
                "closed": None if not closes else envelope_json(closes[-1]),
                "usage": reader.usage(envelopes),
                "final": reader.fold(meta, lines, len(lines)),
                "live": feed.live,
            }
        )

    async def state(request: Request) -> Response:
        sid = request.path_params["session_id"]
        meta = await reader.creation(sid)
        if meta is None:
            return _error(404, "not_found", f"no session {sid!r}")
        lines = await reader.wal_lines(sid)
        at = _int_param(request, "at", len(lines))
        return _json(reader.fold(meta, lines, min(at, len(lines))))

    async def events(request: Request) -> Response:
        sid = request.path_params["session_id"]
        if await reader.creation(sid) is None:
            return _error(404, "not_found", f"no session {sid!r}")
        after = _int_param(request, "after", 0)

        async def stream() -> AsyncIterator[bytes]:
            yield b": tail\n\n"
            async for env in feed.tail(sid, after):
                if env is None:
                    yield b": keep-alive\n\n"
                    continue
                payload = orjson.dumps(envelope_json(env), default=str)
                yield b"id: %d\nevent: envelope\ndata: %s\n\n" % (env.sequence, payload)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def audit(request: Request) -> Response:
        params = request.query_params
        limit = _int_param(request, "limit", 100, _MAX_LIMIT)
        offset = _int_param(request, "offset", 0)
        records = await reader.audit(
            session_id=params.get("session_id") or None, kind=params.get("kind") or None
        )
        records.reverse()
        return _json(
            {
                "total": len(records),
                "offset": offset,
                "limit": limit,
                "records": records[offset : offset + limit],
            }
        )

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "mode": "live" if feed.live else "offline"})

    routes = [
        Route("/", guarded(root, page=True)),
        Route("/healthz", healthz),
        Route("/favicon.ico", no_icon),
        Route("/agents", static_page("agents.html")),
        Route("/sessions", static_page("sessions.html")),
        Route("/sessions/{session_id}", static_page("session.html")),
        Route("/audit", static_page("audit.html")),
        Route("/static/{name}", asset),
        Route("/api/info", guarded(info)),
        Route("/api/agents", guarded(agents)),
        Route("/api/sessions", guarded(sessions)),
        Route("/api/sessions/{session_id}", guarded(session)),
        Route("/api/sessions/{session_id}/state", guarded(state)),
        Route("/api/sessions/{session_id}/events", guarded(events)),
        Route("/api/audit", guarded(audit)),
    ]
    return Starlette(routes=routes)
