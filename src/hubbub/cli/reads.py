"""The read commands: ``agents``, ``sessions``, ``show``, ``wal``, ``audit``, ``replay``.

Every one reads either a store offline (``--store URL``, or ``$HUBBUB_STORE``)
or a running hub through its protocol (``--hub ws://… --token T``, the token of
an operator: ``hubbub serve --operator-token T``). Both go through one
:class:`~hubbub.network.hub.reader.StoreReader`: offline it reads the store
directly — without the writer lock and without writing anything, so it works
whether or not a hub serves the store —, remotely it reads the same records
through the hub's operator read operations.

``--json`` prints one JSON document instead of a table (``audit --follow
--json`` prints one JSON object per line). Long work (replaying or summing the
usage of a big store) reports its progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hubbub.cli._errors import CommandError, UsageError
from hubbub.cli._output import Progress, dash, print_json, short_time, table
from hubbub.cli._usage import Usage, cost_text, tokens_text, usage_from_wals, usage_json
from hubbub.network.envelope import (
    EV_EXPECTATION_VIOLATED,
    EV_SESSION_CLOSED,
    EV_SESSION_EXPIRED,
    EV_SESSION_INVITE,
    EV_TEXT,
    Envelope,
)
from hubbub.network.errors import InvalidValueError, NotFoundError
from hubbub.network.hub.reader import AgentRecord, AuditPosition, StoreReader

__all__ = [
    "COMMANDS",
    "add_agents",
    "add_audit",
    "add_parsers",
    "add_replay",
    "add_sessions",
    "add_show",
    "add_wal",
    "open_source",
    "parse_since",
]

#: Seconds between polls of ``audit --follow``.
FOLLOW_INTERVAL = 0.5


# ---------------------------------------------------------------------- the source


@dataclass(slots=True)
class Source:
    """What a read command reads: the reader, and who is online (None offline)."""

    reader: StoreReader
    online: set[str] | None


def _check_offline_store(url: str) -> None:
    """Refuse a ``sqlite:``/``disk:`` URL that names no existing hubbub store.

    Opening one would create it (a file, a directory and its marker): a reader
    must not write.

    Raises:
        CommandError: the file or directory does not exist or is not a hubbub store.
    """
    scheme, _, rest = url.partition(":")
    scheme = scheme.lower()
    if scheme == "sqlite" and rest.startswith("///") and len(rest) > 3:
        path = rest[3:]
        if not os.path.isfile(path):
            raise CommandError(f"no hubbub store at {url}: the file {path} does not exist")
        if os.path.getsize(path) == 0:
            raise CommandError(f"no hubbub store at {url}: the file {path} is empty")
        problem = _sqlite_problem(path)
        if problem is not None:
            raise CommandError(f"no hubbub store at {url}: {problem}")
    elif scheme == "disk" and rest:
        path = rest[2:] if rest.startswith("///") else rest
        if not os.path.isdir(path):
            raise CommandError(f"no hubbub store at {url}: the directory {path} does not exist")
        if not os.path.exists(os.path.join(path, ".hubbub-store")):
            raise CommandError(f"no hubbub store at {url}: {path} has no .hubbub-store marker")


def _sqlite_problem(path: str) -> str | None:
    """Why the SQLite file is not a hubbub store the reader may open unchanged (None: it is).

    Looked at through a read-only connection: ``SqliteKnowledgeStore`` would write its
    tables and marker into a database that lacks them.
    """
    import sqlite3

    from hubbub.knowledge.sqlite import APPLICATION_ID

    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
    except sqlite3.Error as exc:
        return f"{path} is not a readable SQLite database ({exc})"
    if app_id == APPLICATION_ID:
        return None
    return (
        f"{path} does not carry the hubbub store marker (application_id {app_id:#x}); "
        "a store written before the marker gets it when a hub opens it once"
    )


@asynccontextmanager
async def open_source(args: argparse.Namespace) -> AsyncIterator[Source]:
    """The reader the arguments name (``--store`` / ``$HUBBUB_STORE`` or ``--hub``).

    Raises:
        UsageError: neither or both given; a bad store URL; ``--hub`` without a token.
        CommandError: the store does not exist.
        NetworkError: the store or the hub cannot be reached, or refuses.
    """
    hub_url: str | None = args.hub
    store_url: str | None = args.store
    if hub_url is not None and store_url is not None:
        raise UsageError("give --store or --hub, not both")
    if hub_url is None and store_url is None:
        store_url = os.environ.get("HUBBUB_STORE") or None
        if store_url is None:
            raise UsageError("no store: pass --store URL (or set HUBBUB_STORE) or --hub URL")
    if hub_url is not None:
        async with _remote(args, hub_url) as source:
            yield source
        return
    assert store_url is not None
    from hubbub.knowledge.urls import open_store

    _check_offline_store(store_url)  # before building it: a disk store creates its root
    try:
        store = open_store(store_url)
    except InvalidValueError as exc:
        raise UsageError(f"--store: {exc.message}") from None
    try:
        yield Source(StoreReader(store), None)
    finally:
        await store.close()


@asynccontextmanager
async def _remote(args: argparse.Namespace, url: str) -> AsyncIterator[Source]:
    from hubbub.cli.remote import RemoteStore
    from hubbub.network import HubClient

    token: str | None = args.token or os.environ.get("HUBBUB_TOKEN") or None
    if token is None:
        raise UsageError("--hub needs --token TOKEN (an operator token of the hub) or HUBBUB_TOKEN")
    try:
        from hubbub.network.transport.ws import WsLink
    except ImportError as exc:
        raise CommandError(f"the WebSocket transport is not available: {exc}") from exc
    ssl_context = None
    if url.startswith("wss://"):
        from hubbub.cli.serve import client_ssl_context

        try:
            ssl_context = client_ssl_context(args.cafile)
        except InvalidValueError as exc:
            raise UsageError(exc.message) from None
    try:
        link = WsLink(url, token=token, ssl=ssl_context, reconnect=0)
    except ValueError as exc:
        raise UsageError(f"--hub: {exc}") from None
    client = HubClient(link)
    store = RemoteStore(client, url)
    try:
        await client.connect()
        online = {p.agent_id or "" for p in await client.list_agents(online=True, limit=1 << 30)}
        yield Source(StoreReader(store), online)
    finally:
        await client.close()


def _add_source(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("what to read (one of)")
    where.add_argument(
        "--store",
        metavar="URL",
        help="read this store offline (as hubbub serve --store; default $HUBBUB_STORE): "
        "memory:, disk:PATH, sqlite:///PATH, redis://…, postgresql://…",
    )
    where.add_argument("--hub", metavar="URL", help="ask a running hub (ws://HOST:PORT, wss://…)")
    where.add_argument(
        "--token",
        metavar="TOKEN",
        help="with --hub: an operator token of that hub (default $HUBBUB_TOKEN)",
    )
    where.add_argument("--cafile", metavar="FILE", help="with wss://: certificates to trust, PEM")
    parser.add_argument("--json", action="store_true", help="print one JSON document")


# ---------------------------------------------------------------------- helpers


def _names(agents: list[AgentRecord]) -> dict[str, str]:
    return {a.agent_id: a.passport.name for a in agents}


def _resolve_agent(agents: list[AgentRecord], name_or_id: str) -> str:
    for a in agents:
        if name_or_id in (a.agent_id, a.passport.name):
            return a.agent_id
    raise NotFoundError(f"no agent named or with id {name_or_id!r}")


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: datetime | None = None) -> str:
    """``--since``: an ISO-8601 time, or a duration back from now (``90s``, ``15m``, ``2h``, ``7d``).

    Raises:
        UsageError: neither.
    """
    match = _DURATION.match(text.strip())
    if match is not None:
        start = (now or datetime.now(UTC)) - timedelta(
            seconds=float(match.group(1)) * _UNITS[match.group(2)]
        )
        return start.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since: not an ISO-8601 time or a duration (90s, 15m, 2h, 7d): {text!r}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _observed(record: AgentRecord) -> str:
    parts = []
    for cap, stat in sorted(record.resume.observed.items()):
        parts.append(f"{cap} n={stat.n} ok={stat.completed} fail={stat.failed} exp={stat.expired}")
    return "; ".join(parts)


async def _usage(source: Source, session_ids: list[str], label: str) -> Usage:
    progress = Progress(label, len(session_ids), "sessions read")
    usage = await usage_from_wals(source.reader, session_ids, progress)
    progress.finish()
    return usage


# ---------------------------------------------------------------------- agents


async def _agents(args: argparse.Namespace) -> int:
    async with open_source(args) as source:
        agents = await source.reader.agents()
        usage = Usage()
        if not args.no_usage:
            usage = await _usage(source, await source.reader.session_ids(), "hubbub agents")
    rows: list[dict[str, Any]] = []
    for a in agents:
        total = usage.agent(a.agent_id)
        rows.append(
            {
                "name": a.passport.name,
                "agent_id": a.agent_id,
                "kind": a.passport.effective_kind,
                "online": None if source.online is None else a.agent_id in source.online,
                "capabilities": sorted(a.resume.capabilities()),
                "observed": {k: _stat(v) for k, v in a.resume.observed.items()},
                "principal": a.principal,
                "usage": None if args.no_usage else usage_json(total),
            }
        )
    if args.json:
        print_json(rows)
        return 0
    headers = ["NAME", "ID", "KIND", "ONLINE", "CAPABILITIES", "OBSERVED", "TOKENS", "COST"]
    lines = []
    for a, row in zip(agents, rows, strict=True):
        total = usage.agent(a.agent_id)
        online = "—" if row["online"] is None else ("yes" if row["online"] else "no")
        lines.append(
            [
                a.passport.name,
                a.agent_id,
                row["kind"],
                online,
                dash(", ".join(row["capabilities"])),
                dash(_observed(a)),
                "—" if args.no_usage else tokens_text(total),
                "—" if args.no_usage else cost_text(total),
            ]
        )
    print(table(headers, lines))
    return 0


def _stat(stat: Any) -> dict[str, Any]:
    return {
        "n": stat.n,
        "completed": stat.completed,
        "failed": stat.failed,
        "expired": stat.expired,
        "p50_latency_ms": stat.p50_latency_ms,
    }


# ---------------------------------------------------------------------- sessions


async def _sessions(args: argparse.Namespace) -> int:
    since = parse_since(args.since) if args.since else None
    if args.limit < 0:
        raise UsageError(f"--limit must be 0 (all) or more, got {args.limit}")
    async with open_source(args) as source:
        agents = await source.reader.agents()
        names = _names(agents)
        agent_id = _resolve_agent(agents, args.agent) if args.agent else None
        found = await source.reader.sessions(
            state=args.state,
            type=args.type,
            agent_id=agent_id,
            created_after=since,
            limit=args.limit or None,
        )
        usage = Usage()
        if args.usage:
            usage = await _usage(source, [s.session_id for s in found], "hubbub sessions")
    if args.json:
        docs = []
        for s in found:
            doc = s.to_dict()
            doc["participant_names"] = [names.get(p, p) for p in s.participants]
            if args.usage:
                doc["usage"] = usage_json(usage.session(s.session_id))
            docs.append(doc)
        print_json(docs)
        return 0
    headers = ["ID", "TYPE", "STATE", "PARTICIPANTS", "ENVELOPES", "CREATED", "CLOSED"]
    if args.usage:
        headers += ["TOKENS", "COST"]
    headers.append("REASON")
    rows = []
    for s in found:
        row: list[object] = [
            s.session_id,
            s.type,
            s.state,
            ",".join(names.get(p, p) for p in s.participants),
            s.envelopes,
            short_time(s.created_at),
            short_time(s.closed_at),
        ]
        if args.usage:
            total = usage.session(s.session_id)
            row += [tokens_text(total), cost_text(total)]
        row.append(dash(s.close_reason))
        rows.append(row)
    print(table(headers, rows))
    return 0


# ---------------------------------------------------------------------- show


def _event_text(env: Envelope, names: dict[str, str]) -> str:
    data = env.event_data
    if env.event_type == EV_TEXT or isinstance(data.get("text"), str):
        return str(data.get("text", ""))
    if env.event_type in (EV_SESSION_CLOSED, EV_SESSION_EXPIRED):
        return f"reason: {data.get('reason', '')}"
    if env.event_type == EV_EXPECTATION_VIOLATED:
        violators = ", ".join(names.get(v, v) for v in data.get("violators") or [])
        return f"VIOLATION {data.get('expectation', '')}" + (
            f" by {violators}" if violators else ""
        )
    if env.event_type == EV_SESSION_INVITE:
        return f"{data.get('manifest_type', '')} v{data.get('manifest_version', 1)}"
    shown = {
        k: v
        for k, v in data.items()
        if k not in ("session_id", "usage", "creator_id") and v not in ({}, [], None, "")
    }
    return ", ".join(f"{k}={_named(v, names)}" for k, v in shown.items())


def _named(value: object, names: dict[str, str]) -> str:
    """A value for a table cell, agent ids replaced by names."""
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[" + ", ".join(names.get(str(v), str(v)) for v in value) + "]"
    return str(value)


def _short_event(event_type: str) -> str:
    return event_type.removeprefix("ag2.")


async def _show(args: argparse.Namespace) -> int:
    async with open_source(args) as source:
        reader = source.reader
        meta = await reader.session_metadata(args.session)
        (summary,) = await reader.summarize([meta])
        names = _names(await reader.agents())
        envelopes = await reader.envelopes(args.session)
        records, _ = await reader.audit()
    usage = Usage()
    for env in envelopes:
        usage.count(env)
    total = usage.session(args.session)
    audit = [r for r in records if r.get("session_id") == args.session]
    violations = [r for r in audit if r.get("kind") == "expectation_violated"]
    if args.json:
        print_json(
            {
                "session": summary.to_dict()
                | {"participant_names": [names.get(p, p) for p in summary.participants]},
                "usage": usage_json(total),
                "envelopes": [e.to_dict() for e in envelopes],
                "violations": violations,
                "audit": audit,
            }
        )
        return 0
    people = ", ".join(names.get(p, p) for p in summary.participants)
    print(f"session {summary.session_id}  {summary.type}  {summary.state}")
    print(f"participants: {people}")
    print(f"created: {short_time(summary.created_at)}  closed: {short_time(summary.closed_at)}")
    print(f"close reason: {dash(summary.close_reason)}")
    print(f"envelopes: {summary.envelopes}  tokens: {tokens_text(total)}  cost: {cost_text(total)}")
    print()
    rows = []
    for env in envelopes:
        audience = (
            "all" if env.audience is None else ",".join(names.get(a, a) for a in env.audience)
        )
        rows.append(
            [
                env.sequence,
                env.created_at[11:23] or "—",
                names.get(env.sender_id, env.sender_id),
                dash(audience),
                _short_event(env.event_type),
                _event_text(env, names).replace("\n", " "),
            ]
        )
    print(table(["SEQ", "TIME", "FROM", "TO", "EVENT", "TEXT"], rows))
    if violations:
        print()
        print(f"violations ({len(violations)}):")
        for r in violations:
            who = ", ".join(names.get(v, v) for v in r.get("violators") or [])
            print(f"  {short_time(r.get('at'))}  {r.get('expectation', '')}  {who}".rstrip())
    return 0


# ---------------------------------------------------------------------- wal


async def _wal(args: argparse.Namespace) -> int:
    async with open_source(args) as source:
        lines = await source.reader.wal_lines(args.session)
    if args.json:
        import orjson

        docs: list[Any] = []
        for line in lines:
            try:
                docs.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                docs.append(line)  # an undecodable line is shown as its text
        print_json(docs)
        return 0
    for line in lines:
        print(line)
    return 0


# ---------------------------------------------------------------------- audit


def _audit_filter(
    args: argparse.Namespace, agent_id: str | None, sessions_of_agent: set[str]
) -> Callable[[dict[str, Any]], bool]:
    def keep(record: dict[str, Any]) -> bool:
        if args.session is not None and record.get("session_id") != args.session:
            return False
        if args.kind is not None and record.get("kind") != args.kind:
            return False
        if agent_id is not None:
            named = {record.get("agent_id"), record.get("creator_id")}
            for key in ("participants", "violators"):
                value = record.get(key)
                if isinstance(value, list):
                    named.update(v for v in value if isinstance(v, str))
            if agent_id not in named and record.get("session_id") not in sessions_of_agent:
                return False
        return True

    return keep


_AUDIT_SHOWN = ("at", "kind", "session_id", "agent_id")


def _audit_row(record: dict[str, Any], names: dict[str, str]) -> list[object]:
    agent = record.get("agent_id") or record.get("creator_id")
    rest = {k: v for k, v in record.items() if k not in _AUDIT_SHOWN and k != "creator_id"}
    details = ", ".join(
        f"{k}={_named(v, names)}" for k, v in rest.items() if v not in ({}, [], None, "")
    )
    return [
        short_time(record.get("at")),
        record.get("kind", ""),
        dash(record.get("session_id")),
        dash(names.get(agent, agent) if isinstance(agent, str) else None),
        details,
    ]


async def _audit(args: argparse.Namespace) -> int:
    async with open_source(args) as source:
        reader = source.reader
        agents = await reader.agents()
        names = _names(agents)
        agent_id = _resolve_agent(agents, args.agent) if args.agent else None
        sessions_of_agent: set[str] = set()
        if agent_id is not None:
            found = await reader.sessions(agent_id=agent_id)
            sessions_of_agent = {s.session_id for s in found}
        keep = _audit_filter(args, agent_id, sessions_of_agent)
        records, position = await reader.audit()
        shown = [r for r in records if keep(r)]
        if not args.follow:
            if args.json:
                print_json(shown)
            else:
                print(
                    table(
                        ["AT", "KIND", "SESSION", "AGENT", "DETAILS"],
                        [_audit_row(r, names) for r in shown],
                    )
                )
            return 0
        await _follow(args, reader, position, shown, keep, names)
    return 0


async def _follow(
    args: argparse.Namespace,
    reader: StoreReader,
    position: AuditPosition,
    shown: list[dict[str, Any]],
    keep: Callable[[dict[str, Any]], bool],
    names: dict[str, str],
) -> None:
    """Print records as they come: one JSON object per line with ``--json``, else rows."""
    import json

    def emit(records: list[dict[str, Any]]) -> None:
        for r in records:
            if args.json:
                print(json.dumps(r, ensure_ascii=False, default=str), flush=True)
            else:
                print("  ".join(str(c) for c in _audit_row(r, names)).rstrip(), flush=True)

    emit(shown)
    while True:
        await asyncio.sleep(FOLLOW_INTERVAL)
        records, position = await reader.audit(position)
        emit([r for r in records if keep(r)])


# ---------------------------------------------------------------------- replay


async def _replay(args: argparse.Namespace) -> int:
    if (args.session is None) == (not args.all):
        raise UsageError("give a SESSION or --all (not both)")
    async with open_source(args) as source:
        reader = source.reader
        ids = await reader.session_ids() if args.all else [args.session]
        quarantined = await reader.quarantined()
        progress = Progress("hubbub replay", len(ids), "sessions replayed")
        reports = []
        for n, sid in enumerate(ids, start=1):
            if args.all:
                try:
                    report = await reader.replay(sid)
                except NotFoundError:
                    continue  # a folder without a creation record (an interrupted create)
            else:
                report = await reader.replay(sid)
            report.quarantined = quarantined.get(sid)
            reports.append(report)
            progress(n)
        progress.finish()
    diverged = [r for r in reports if not r.ok]
    if args.json:
        print_json(
            {
                "sessions": [r.to_dict() for r in reports],
                "replayed": len(reports),
                "diverged": len(diverged),
            }
        )
    else:
        rows = [
            [
                r.session_id,
                r.type,
                r.lines,
                r.state,
                dash(r.close_reason),
                "ok" if r.ok else "DIVERGED",
                dash(
                    "; ".join(r.problems)
                    or (f"quarantined: {r.quarantined}" if r.quarantined else "")
                ),
            ]
            for r in reports
        ]
        print(table(["ID", "TYPE", "LINES", "STATE", "REASON", "REPLAY", "PROBLEMS"], rows))
        print(f"{len(reports)} session(s) replayed, {len(diverged)} diverged")
    if diverged:
        print(
            f"hubbub replay: {len(diverged)} session(s) do not replay: "
            + ", ".join(r.session_id for r in diverged[:5])
            + (" …" if len(diverged) > 5 else ""),
            file=sys.stderr,
        )
        return 1
    return 0


# ---------------------------------------------------------------------- registration


def _run(command: Callable[[argparse.Namespace], Any]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        status: int = asyncio.run(command(args))
        return status

    return run


def add_agents(commands: Any) -> None:
    """Add ``agents`` to ``commands`` (``ArgumentParser.add_subparsers()``)."""
    p = commands.add_parser("agents", help="list the registered agents")
    _add_source(p)
    p.add_argument(
        "--no-usage", action="store_true", help="skip the tokens and cost (they read every WAL)"
    )
    p.set_defaults(run=_run(_agents))


def add_sessions(commands: Any) -> None:
    """Add ``sessions`` to ``commands`` (``ArgumentParser.add_subparsers()``)."""
    p = commands.add_parser("sessions", help="list sessions, newest first")
    _add_source(p)
    p.add_argument("--state", choices=["pending", "active", "closed", "expired"])
    p.add_argument("--type", metavar="TYPE", help="session type (consulting, conversation, …)")
    p.add_argument("--agent", metavar="NAME|ID", help="only sessions this agent takes part in")
    p.add_argument("--since", metavar="TIME", help="created since: ISO-8601 time or 15m, 2h, 7d")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50; 0: all)")
    p.add_argument(
        "--usage", action="store_true", help="add tokens and cost (reads the listed sessions' WALs)"
    )
    p.set_defaults(run=_run(_sessions))


def add_show(commands: Any) -> None:
    """Add ``show`` to ``commands`` (``ArgumentParser.add_subparsers()``)."""
    p = commands.add_parser("show", help="a session's transcript")
    p.add_argument("session", metavar="SESSION")
    _add_source(p)
    p.set_defaults(run=_run(_show))


def add_wal(commands: Any) -> None:
    """Add ``wal`` to ``commands`` (``ArgumentParser.add_subparsers()``)."""
    p = commands.add_parser("wal", help="a session's raw WAL lines")
    p.add_argument("session", metavar="SESSION")
    _add_source(p)
    p.set_defaults(run=_run(_wal))


def add_audit(commands: Any) -> None:
    """Add ``audit`` to ``commands`` (``ArgumentParser.add_subparsers()``)."""
    p = commands.add_parser("audit", help="the audit log")
    _add_source(p)
    p.add_argument("--session", metavar="SESSION")
    p.add_argument("--agent", metavar="NAME|ID")
    p.add_argument("--kind", metavar="KIND", help="session_created, session_closed, …")
    p.add_argument(
        "--follow", action="store_true", help="keep printing new records (Ctrl-C to stop)"
    )
    p.set_defaults(run=_run(_audit))


def add_replay(commands: Any) -> None:
    """Add ``replay`` to ``commands`` (``ArgumentParser.add_subparsers()``)."""
    p = commands.add_parser(
        "replay", help="re-fold WALs through their adapters; report final states and divergence"
    )
    p.add_argument("session", metavar="SESSION", nargs="?")
    p.add_argument("--all", action="store_true", help="every session in the store")
    _add_source(p)
    p.set_defaults(run=_run(_replay))


#: The read subcommands: name → function adding its parser.
COMMANDS: dict[str, Callable[[Any], None]] = {
    "agents": add_agents,
    "sessions": add_sessions,
    "show": add_show,
    "wal": add_wal,
    "audit": add_audit,
    "replay": add_replay,
}


def add_parsers(commands: Any) -> None:
    """Add every read subcommand to ``commands`` (``ArgumentParser.add_subparsers()``)."""
    for add in COMMANDS.values():
        add(commands)
