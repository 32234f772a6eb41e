"""Side-by-side benchmark runner: hubbub vs the reference (``ag2==1.2.1``).

Every workload runs in a fresh subprocess under its own interpreter::

    .bench-ref/bin/python bench/workloads_ref.py     <workload> --n N [--variant V]
    .venv/bin/python      bench/workloads_hubbub.py  <workload> --n N [--variant V]

each repeated (3x by default, runs interleaved ref/hubbub), and the median of
every metric goes into a Markdown table printed to stdout and written to
``bench/results/latest.md``. Use ``scripts/bench`` rather than calling this
directly: it creates the two virtualenvs first.

Standard library only, so it runs under any Python >= 3.11.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULT_PREFIX = "RESULT "

IMPLS = {
    "ref": (os.path.join(ROOT, ".bench-ref", "bin", "python"), "workloads_ref.py"),
    "hubbub": (os.path.join(ROOT, ".venv", "bin", "python"), "workloads_hubbub.py"),
}


@dataclass(frozen=True)
class Run:
    """One workload invocation (same arguments for both implementations)."""

    key: str
    workload: str
    n: int
    variant: str = "default"
    group: str = ""  # the --only name that selects it
    optional: bool = False  # durable-hub workloads: only with --durable
    rep_factor: int = 1  # extra repetitions for very short, noisy runs
    impls: tuple[str, ...] = ("ref", "hubbub")  # who runs it (others show "—")
    timeout: float = 0.0  # per-subprocess timeout if longer than --timeout (big fills)
    # Script per implementation when not IMPLS' (the WebSocket workloads), e.g.
    # (("ref", "ws_ref.py"), ("hubbub", "ws_hubbub.py")).
    scripts: tuple[tuple[str, str], ...] = ()


WS_SCRIPTS = (("ref", "ws_ref.py"), ("hubbub", "ws_hubbub.py"))
ECHO_SCRIPTS = (("ref", "ws_echo.py"), ("hubbub", "ws_echo.py"))


def ws_runs(quick: bool) -> list[Run]:
    """WebSocket, several processes per run (hub, clients): ``--only ws`` or ``--ws``.

    Run keys ``ws_<workload>`` (memory store; the reference and hubbub) and
    ``ws_<workload>_sqlite`` (hubbub's hub on SQLite; the reference's column shows "—").
    """
    q = quick
    sizes = {"latency": 1000 if q else 2000, "turns": 1000 if q else 2000}
    sizes["fanout"] = 5000 if q else 20_000
    runs = [Run("ws_echo", "echo", 2000, group="ws", optional=True, scripts=ECHO_SCRIPTS)]
    for workload, n in sizes.items():
        runs.append(Run(f"ws_{workload}", workload, n, "memory", "ws", True, scripts=WS_SCRIPTS))
        runs.append(
            Run(
                f"ws_{workload}_sqlite",
                workload,
                n,
                "sqlite",
                "ws",
                True,
                impls=("hubbub",),
                scripts=WS_SCRIPTS,
            )
        )
    return runs


def runs_for(quick: bool) -> list[Run]:
    q = quick
    return [
        # 100 turns take ~10 ms on hubbub: 3x the repetitions for a steadier median.
        Run("conv_small", "conversation", 100, group="conversation", rep_factor=3),
        Run("conv_large", "conversation", 300 if q else 1000, group="conversation"),
        Run("consult", "consulting", 100 if q else 300, group="consulting"),
        # (g) 3 agents: round-robin discussion and round-robin workflow, to N turns.
        # The reference needs ~1-2 minutes for 1,000 turns: a longer timeout.
        # hubbub's 200 turns take ~0.15 s, so one noisy moment moves their rate (and the
        # flatness ratio): 3x the repetitions for the small runs, as for conversation @100.
        *(
            Run(
                f"{kind}_{size}",
                "multiparty",
                n,
                kind,
                group="multiparty",
                timeout=600.0,
                rep_factor=3 if size == "small" else 1,
            )
            for kind in ("discussion", "workflow")
            for size, n in (("small", 200), ("large", 300 if q else 1000))
        ),
        Run("raw_detached", "raw_post", 4000 if q else 10_000, "detached", group="raw_post"),
        Run("raw_attached", "raw_post", 4000 if q else 10_000, "attached", group="raw_post"),
        # N > 1024: hubbub keeps the last 1024 closed sessions in a bounded cache, the
        # 2nd-batch growth check only sees pinning once that cache is full.
        Run("mem_hub", "memory", 1200 if q else 2000, "hub", group="memory"),
        Run("mem_hub_disk", "memory", 1200 if q else 2000, "hub-disk", group="memory"),
        Run("mem_agents", "memory", 1200 if q else 2000, "agents", group="memory"),
        # (e)/(f): the durable hub (SQLite; PostgreSQL and Redis for hubbub only: the
        # reference has no such stores). Only with --durable.
        Run("durable", "durable_append", 1000 if q else 5000, group="durable", optional=True),
        # Flat in WAL length: 20x longer (1,000 envelopes per session). hubbub only: at
        # the reference's ~1k env/s this alone would take minutes per repetition.
        Run(
            "durable_long",
            "durable_append",
            20_000 if q else 100_000,
            group="durable",
            optional=True,
            impls=("hubbub",),
        ),
        *(
            Run(
                f"durable_{v}",
                "durable_append",
                1000 if q else 5000,
                v,
                group="durable",
                optional=True,
                impls=("hubbub",),
            )
            for v in ("postgres", "redis")
        ),
        Run("hydrate", "hydrate", 10_000 if q else 50_000, group="hydrate", optional=True),
        # The issue's size: 1M envelopes / 10k sessions (each side fills it once per
        # invocation, ~1-2 min, and later repetitions open a copy: BuildCache).
        Run(
            "hydrate_big",
            "hydrate",
            100_000 if q else 1_000_000,
            group="hydrate",
            optional=True,
            timeout=900.0,
        ),
        *(
            Run(
                f"hydrate_{v}",
                "hydrate",
                10_000 if q else 100_000,
                v,
                group="hydrate",
                optional=True,
                impls=("hubbub",),
                timeout=600.0,
            )
            for v in ("postgres", "redis")
        ),
        *ws_runs(q),
    ]


@dataclass
class Outcome:
    samples: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: str | None = None

    def median(self, metric: str) -> float | None:
        vals = [s[metric] for s in self.samples if isinstance(s.get(metric), int | float)]
        return statistics.median(vals) if vals else None


def run_once(impl: str, run: Run, timeout: float, clock: str = "wall") -> dict[str, Any]:
    python, script = IMPLS[impl]
    script = dict(run.scripts).get(impl, script)
    timeout = max(timeout, run.timeout)
    cmd = [
        python,
        os.path.join(HERE, script),
        run.workload,
        "--n",
        str(run.n),
        "--variant",
        run.variant,
        "--timeout",
        str(max(10.0, timeout - 10.0)),
    ]
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1", BENCH_CLOCK=clock)
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return dict(json.loads(line[len(RESULT_PREFIX) :]))
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
    return {"error": f"exit {proc.returncode}: " + " | ".join(t.strip() for t in tail)}


def probe(impl: str) -> str | None:
    """None if the implementation's interpreter can import what it needs."""
    python, _ = IMPLS[impl]
    if not os.path.exists(python):
        return f"no interpreter at {os.path.relpath(python, ROOT)}"
    mod = "ag2.network" if impl == "ref" else "hubbub.network"
    names = "Hub, HubClient, LocalLink, Passport, Resume, Envelope, EV_TEXT"
    env = dict(os.environ)
    if impl == "hubbub":  # as workloads_hubbub.py does: fall back to the checkout's src/
        env["PYTHONPATH"] = os.path.join(ROOT, "src")
    proc = subprocess.run(
        [python, "-c", f"import psutil; from {mod} import {names}"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return f"`from {mod} import ...` failed: {last}"
    return None


def version_of(impl: str) -> str:
    python, _ = IMPLS[impl]
    mod = "ag2" if impl == "ref" else "hubbub"
    code = (
        f"import platform, importlib.metadata as m, {mod};"
        "v = getattr(" + mod + ", '__version__', None)\n"
        "if v is None: v = m.version(" + repr(mod) + ")\n"
        "print('python', platform.python_version() + ',', " + repr(mod) + ", v)"
    )
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src")) if impl == "hubbub" else None
    try:
        out = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, timeout=60, env=env
        )
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


# ── table ────────────────────────────────────────────────────────────────────


def fmt(v: float | None, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    a = abs(v)
    if a >= 100:
        s = f"{v:,.0f}"
    elif a >= 10:
        s = f"{v:.1f}"
    else:
        s = f"{v:.2f}"
    return f"{s}{unit}"


@dataclass(frozen=True)
class Row:
    label: str
    key: str
    metric: str
    unit: str = ""
    higher_is_better: bool = True
    target: str = ""
    # check(ref_value, hubbub_value) -> met?
    check: Callable[[float | None, float], bool] | None = None
    ratio: bool = True  # False: the two sides measure different things (no ratio)


def rel(factor: float) -> Callable[[float | None, float], bool]:
    return lambda r, h: r is not None and h >= factor * r


def at_least(x: float) -> Callable[[float | None, float], bool]:
    return lambda r, h: h >= x


def at_most(x: float) -> Callable[[float | None, float], bool]:
    return lambda r, h: h <= x


def multiparty_rows(runs: dict[str, Run]) -> list[Row]:
    """(g) discussion and workflow, 3 agents: turns/s at both sizes and their ratio.

    The issue's target is ≥ 100x the reference at 1,000 turns; the short run is shown
    for the flatness ratio (hubbub's first turns include its warm-up)."""
    rows = []
    for kind, label in (("discussion", "discussion"), ("workflow", "workflow round robin")):
        small, large = runs[f"{kind}_small"].n, runs[f"{kind}_large"].n
        for size, n in (("small", small), ("large", large)):
            rows.append(
                Row(
                    f"(g) {label}, 3 agents, turns/s @{n:,}",
                    f"{kind}_{size}",
                    "turns_per_s",
                    target="≥ 100x ref" if size == "large" else "",
                    check=rel(100) if size == "large" else None,
                )
            )
        rows.append(
            Row(
                f"(g) {label}: rate @{large:,} / rate @{small:,}",
                f"{kind}_ratio",
                "ratio",
                target="≥ 0.90",
                check=at_least(0.90),
            )
        )
    return rows


def rows_for(runs: dict[str, Run]) -> list[Row]:
    small, large = runs["conv_small"].n, runs["conv_large"].n
    nraw = runs["raw_detached"].n
    nmem = runs["mem_agents"].n
    ndur, nhyd = runs["durable"].n, runs["hydrate"].n
    nbig = runs["hydrate_big"].n
    npg, nredis = runs["durable_postgres"].n, runs["durable_redis"].n
    nlong = runs["durable_long"].n
    nhpg, nhredis = runs["hydrate_postgres"].n, runs["hydrate_redis"].n
    return [
        Row(
            f"(a) conversation, 2 agents, turns/s @{small}",
            "conv_small",
            "turns_per_s",
            target="≥ 20x ref",
            check=rel(20),
        ),
        Row(
            f"(a) conversation, 2 agents, turns/s @{large}",
            "conv_large",
            "turns_per_s",
            target="≥ 150x ref",  # issue 9: the in-process figures do not regress
            check=rel(150),
        ),
        Row(
            f"(a) rate @{large} / rate @{small}",
            "conv_ratio",
            "ratio",
            target="≥ 0.90",
            check=at_least(0.90),
        ),
        Row(
            "(b) consulting open+ask+answer+auto-close, sequential, /s",
            "consult",
            "consults_per_s",
            target="≥ 10x ref",
            check=rel(10),
        ),
        *multiparty_rows(runs),
        Row(
            f"(c) raw post_envelope, 1 session, {nraw:,} env, no receiver: env/s",
            "raw_detached",
            "post_per_s",
            target="≥ 100,000/s",
            check=at_least(100_000),
        ),
        Row("(c) … no receiver: env/s, first chunk", "raw_detached", "first_chunk_per_s"),
        Row("(c) … no receiver: env/s, last chunk", "raw_detached", "last_chunk_per_s"),
        Row(
            "(c) … no receiver: last / first chunk",
            "raw_detached",
            "last_over_first",
            target="≥ 0.90 (no slowdown)",
            check=at_least(0.90),
        ),
        Row(
            "(c) raw post_envelope, receiver attached (LocalLink): posted env/s",
            "raw_attached",
            "post_per_s",
        ),
        Row(
            "(c) … receiver attached: delivered env/s (until all received)",
            "raw_attached",
            "delivered_per_s",
        ),
        Row(
            "(c) … receiver attached: last / first chunk",
            "raw_attached",
            "last_over_first",
            target="≥ 0.90",
            check=at_least(0.90),
        ),
        Row(
            f"(d) hub memory per open session, hub-only, memory store: RSS KiB ({nmem:,} sessions "
            f"on top of {nmem // 2:,} kept open)",
            "mem_hub",
            "rss_kib_per_session",
            higher_is_better=False,
            target="≤ 3 KiB",
            check=at_most(3.0),
        ),
        Row(
            "(d) … of which the memory store's content (WAL + metadata + audit), KiB",
            "mem_hub",
            "store_kib_per_session",
            higher_is_better=False,
        ),
        Row(
            "(d) hub memory per open session, hub-only, disk store (no store content): RSS KiB",
            "mem_hub_disk",
            "rss_kib_per_session",
            higher_is_better=False,
            target="≤ 3 KiB",
            check=at_most(3.0),
        ),
        Row(
            "(d) … disk store: heap blocks per open session",
            "mem_hub_disk",
            "blocks_per_session",
            higher_is_better=False,
        ),
        Row(
            "(d) … disk store: heap blocks still held per closed session (2nd batch)",
            "mem_hub_disk",
            "blocks_growth_per_closed_session",
            higher_is_better=False,
            target="≈ 0 (not pinned)",
            check=at_most(1.0),
        ),
        Row(
            "(d) … disk store: RSS KiB growth per closed session (2nd batch)",
            "mem_hub_disk",
            "rss_kib_growth_per_closed_session",
            higher_is_better=False,
        ),
        Row(
            "(d) memory per open session with 2 Agents, memory store: RSS KiB",
            "mem_agents",
            "rss_kib_per_session",
            higher_is_better=False,
        ),
        Row("(d) … 2 Agents: sessions opened/s (handshake)", "mem_agents", "open_per_s"),
        Row(
            f"(e) durable appends, {ndur:,} env over 100 concurrent sessions, SQLite: env/s acked",
            "durable",
            "env_per_s",
            target="≥ 20,000/s",
            check=at_least(20_000),
        ),
        Row(
            "(e) … durable: second half / first half",
            "durable",
            "second_over_first",
            target="≈ 1 (flat)",
        ),
        Row(
            f"(e) durable appends, {nlong:,} env over 100 concurrent sessions, SQLite: env/s acked",
            "durable_long",
            "env_per_s",
            target="≥ 20,000/s",
            check=at_least(20_000),
        ),
        Row(
            f"(e) … {nlong:,} env: second half / first half",
            "durable_long",
            "second_over_first",
            target="≈ 1 (flat)",
        ),
        Row(
            f"(e) durable appends, {npg:,} env over 100 concurrent sessions, PostgreSQL: "
            "env/s acked",
            "durable_postgres",
            "env_per_s",
        ),
        Row(
            f"(e) durable appends, {nredis:,} env over 100 concurrent sessions, Redis: env/s acked",
            "durable_redis",
            "env_per_s",
        ),
        Row(
            f"(f) Hub.open, SQLite store holding {nhyd:,} env / {nhyd // 100:,} sessions: seconds",
            "hydrate",
            "open_seconds",
            higher_is_better=False,
        ),
        Row("(f) … envelopes hydrated per second", "hydrate", "env_per_s_hydrated"),
        Row(
            f"(f) Hub.open, SQLite store holding {nbig:,} env / {nbig // 100:,} sessions "
            "(hubbub: with the snapshots its hub takes): seconds",
            "hydrate_big",
            "open_seconds",
            higher_is_better=False,
            target="< 1 s",
            check=at_most(1.0),
        ),
        Row("(f) … envelopes hydrated per second", "hydrate_big", "env_per_s_hydrated"),
        Row(
            "(f) … filling it, env/s (hubbub: through its hub into SQLite, 100 sessions at a "
            "time; ref: one session at a time into its memory store, then copied)",
            "hydrate_big",
            "fill_per_s",
            ratio=False,
        ),
        Row(
            f"(f) Hub.open, PostgreSQL store holding {nhpg:,} env / {nhpg // 100:,} sessions: "
            "seconds",
            "hydrate_postgres",
            "open_seconds",
            higher_is_better=False,
        ),
        Row(
            f"(f) Hub.open, Redis store holding {nhredis:,} env / {nhredis // 100:,} sessions: "
            "seconds",
            "hydrate_redis",
            "open_seconds",
            higher_is_better=False,
        ),
    ]


def derived(
    key: str, outcome: Outcome, outcomes: dict[tuple[str, str], Outcome], impl: str, metric: str
) -> float | None:
    if key.endswith("_ratio") and key != "conv_ratio":
        kind = key[: -len("_ratio")]
        s = outcomes.get((impl, f"{kind}_small"))
        b = outcomes.get((impl, f"{kind}_large"))
        if not s or not b:
            return None
        sv, bv = s.median("turns_per_s"), b.median("turns_per_s")
        return bv / sv if sv and bv is not None else None
    if key == "conv_ratio":
        s = outcomes.get((impl, "conv_small"))
        b = outcomes.get((impl, "conv_large"))
        if not s or not b:
            return None
        sv, bv = s.median("turns_per_s"), b.median("turns_per_s")
        return bv / sv if sv and bv is not None else None
    if metric == "second_over_first":
        vals = [
            x["second_half_per_s"] / x["first_half_per_s"]
            for x in outcome.samples
            if x.get("first_half_per_s")
        ]
        return statistics.median(vals) if vals else None
    if metric == "last_over_first":
        vals = [
            x["last_chunk_per_s"] / x["first_chunk_per_s"]
            for x in outcome.samples
            if x.get("first_chunk_per_s")
        ]
        return statistics.median(vals) if vals else None
    return outcome.median(metric)


def render(
    runs: dict[str, Run],
    outcomes: dict[tuple[str, str], Outcome],
    impls: list[str],
    reps: int,
    notes: list[str],
    header: str,
) -> str:
    lines = [header, ""]
    table_head = [
        "| metric | reference (ag2 1.2.1) | hubbub | ratio | target |",
        "|---|---:|---:|---:|---|",
    ]
    footnotes: list[str] = []
    for row in rows_for(runs):
        src = row.key.replace("_ratio", "_large") if row.key.endswith("_ratio") else row.key
        if not any((i, src) in outcomes for i in impls):
            continue
        cells: dict[str, str] = {}
        values: dict[str, float | None] = {}
        for impl in ("ref", "hubbub"):
            if impl not in runs[src].impls:
                cells[impl], values[impl] = "—", None  # no such store in the reference
                continue
            oc = outcomes.get((impl, src))
            if oc is None:
                cells[impl], values[impl] = "not run", None
                continue
            if oc.skipped:
                cells[impl], values[impl] = "n/a¹", None
                footnotes.append(f"{impl} `{src}`: skipped — {oc.skipped}")
                continue
            v = derived(row.key, oc, outcomes, impl, row.metric)
            values[impl] = v
            cells[impl] = fmt(v, row.unit)
            if oc.errors:
                mark = f" ({len(oc.errors)}/{reps} failed)" if oc.samples else " error"
                cells[impl] = (cells[impl] if oc.samples else "") + mark
                footnotes.append(f"{impl} `{src}`: {oc.errors[0]}")
        r, h = values["ref"], values["hubbub"]
        ratio = ""
        if r and h and row.ratio and not row.key.endswith("_ratio") and "_over_" not in row.metric:
            if row.higher_is_better:
                ratio = f"{h / r:.1f}x faster" if h >= r else f"{r / h:.1f}x slower"
            else:
                ratio = f"{r / h:.1f}x smaller" if h <= r else f"{h / r:.1f}x larger"
        target = row.target
        if row.check and h is not None:
            target += " ✅" if row.check(r, h) else " ❌"
        lines.extend(table_head)
        table_head = []
        lines.append(f"| {row.label} | {cells['ref']} | {cells['hubbub']} | {ratio} | {target} |")
    lines.extend(render_ws(runs, outcomes, reps, footnotes))
    if footnotes or notes:
        lines.append("")
        for note in notes:
            lines.append(f"- {note}")
        for fn in dict.fromkeys(footnotes):  # dedupe, keep order
            lines.append(f"- {fn}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class WsRow:
    """One row of the WebSocket table: reference | hubbub memory | hubbub SQLite."""

    label: str
    key: str  # the memory-store run; its SQLite twin is key + "_sqlite"
    metric: str
    higher_is_better: bool = True
    target: str = ""
    check: Callable[[float | None, float], bool] | None = None  # on hubbub (memory)
    ratio: bool = True
    windowed: bool = True  # measured over the timed window (marked when that was capped)


def ws_rows(runs: dict[str, Run]) -> list[WsRow]:
    nlat, nturn, nfan = runs["ws_latency"].n, runs["ws_turns"].n, runs["ws_fanout"].n
    low = {"higher_is_better": False}
    return [
        WsRow(
            "bare `websockets` echo round trip (the floor), p50 ms", "ws_echo", "rtt_p50_ms", **low
        ),
        WsRow("… echo round trip, p99 ms", "ws_echo", "rtt_p99_ms", **low),
        WsRow(
            f"envelope latency sender → hub → recipient, one-way ({nlat:,} ping-pongs, sender "
            "and recipient in different processes): p50 ms",
            "ws_latency",
            "one_way_p50_ms",
            target="≤ 0.25 ms",
            check=at_most(0.25),
            **low,
        ),
        WsRow("… one-way, p99 ms", "ws_latency", "one_way_p99_ms", **low),
        WsRow("… ping → pong round trip, p50 ms", "ws_latency", "rtt_p50_ms", **low),
        WsRow("… round trip, p99 ms", "ws_latency", "rtt_p99_ms", **low),
        WsRow("… CPU µs per envelope, hub process", "ws_latency", "cpu_us_per_env_hub", **low),
        WsRow(
            "… CPU µs per envelope, sender + recipient processes",
            "ws_latency",
            "cpu_us_per_env_clients",
            **low,
        ),
        WsRow(
            f"2 agents in 2 processes (+ the hub's), conversation to {nturn:,} texts: turns/s",
            "ws_turns",
            "turns_per_s",
            target="≥ 2,000/s",
            check=at_least(2000),
        ),
        WsRow("… turns/s in the first tenth", "ws_turns", "first_tenth_per_s"),
        WsRow("… turns/s in the last tenth", "ws_turns", "last_tenth_per_s"),
        WsRow("… texts reached", "ws_turns", "turns", ratio=False),
        WsRow("… CPU µs per turn, hub process", "ws_turns", "cpu_us_per_turn_hub", **low),
        WsRow("… CPU µs per turn, alice + bob", "ws_turns", "cpu_us_per_turn_clients", **low),
        WsRow(
            f"100 agents in 4 client processes (25 per connection), 50 concurrent "
            f"conversations, to {nfan:,} texts: envelopes/s",
            "ws_fanout",
            "env_per_s",
        ),
        WsRow("… envelopes/s in the first tenth", "ws_fanout", "first_tenth_per_s"),
        WsRow("… envelopes/s in the last tenth", "ws_fanout", "last_tenth_per_s"),
        WsRow("… texts reached", "ws_fanout", "texts", ratio=False),
        WsRow("… CPU µs per envelope, hub process", "ws_fanout", "cpu_us_per_env_hub", **low),
        WsRow(
            "… CPU µs per envelope, the 4 client processes",
            "ws_fanout",
            "cpu_us_per_env_clients",
            **low,
        ),
        WsRow("… opening the 50 sessions, s", "ws_fanout", "open_seconds", windowed=False, **low),
    ]


def render_ws(
    runs: dict[str, Run],
    outcomes: dict[tuple[str, str], Outcome],
    reps: int,
    footnotes: list[str],
) -> list[str]:
    """The WebSocket table (empty when no ws run has an outcome)."""
    if not any(k.startswith("ws_") for _, k in outcomes):
        return []
    lines = [
        "",
        "## WebSocket: hub and clients in separate processes, loopback",
        "",
        "The hub runs in its own process (`serve_ws`; hubbub with a bearer token, the "
        "reference with its default NoAuth on loopback), every client in another "
        "(`HubClient(WsLink(url))`), zero-latency scripted model, default handlers. "
        "Latency: the sender stamps `time.perf_counter_ns()` into the envelope's "
        "event_data, the recipient — another process, another connection — reads the "
        "clock when its handler gets it (CLOCK_MONOTONIC, one clock for every process "
        "here); 200 ping-pongs untimed first. Rates are counted by the hub (its "
        "conversation adapter's fold wrapped), from the first text to the N-th; a run "
        "that has not got there 30 s after the first text stops and reports the rate "
        "so far (capped). CPU per item: user + system time of each process while the "
        "run went (/proc), divided by the texts (envelopes) counted.",
        "",
        "| metric | reference (ag2 1.2.1) | hubbub, memory store | hubbub, SQLite store "
        "| hubbub (memory) vs ref | target |",
        "|---|---:|---:|---:|---:|---|",
    ]

    def cell(impl: str, key: str, metric: str, windowed: bool) -> tuple[str, float | None]:
        run = runs.get(key)
        if run is None or impl not in run.impls:
            return "—", None
        oc = outcomes.get((impl, key))
        if oc is None:
            return "not run", None
        if oc.skipped:
            return f"n/a ({oc.skipped})", None
        v = oc.median(metric)
        text = fmt(v)
        if windowed and any(x.get("capped") for x in oc.samples):
            text += " (capped)"
            x = next(x for x in oc.samples if x.get("capped"))
            footnotes.append(
                f"{impl} `{key}`: not at N = {run.n:,} after the {x.get('cap_s', 30):.0f} s "
                f"cap: stopped at {x.get('texts')} texts; its rates are over those"
            )
        if oc.errors:
            text = (text if oc.samples else "") + (
                f" ({len(oc.errors)}/{reps} failed)" if oc.samples else " error"
            )
            footnotes.append(f"{impl} `{key}`: {oc.errors[0]}")
        return text, v

    for row in ws_rows(runs):
        if not any((i, row.key) in outcomes for i in ("ref", "hubbub")):
            continue
        ref_cell, r = cell("ref", row.key, row.metric, row.windowed)
        mem_cell, h = cell("hubbub", row.key, row.metric, row.windowed)
        sql_cell, _ = cell("hubbub", row.key + "_sqlite", row.metric, row.windowed)
        ratio = ""
        if r and h and row.ratio:
            if row.higher_is_better:
                ratio = f"{h / r:.1f}x faster" if h >= r else f"{r / h:.1f}x slower"
            else:
                ratio = f"{r / h:.1f}x lower" if h <= r else f"{h / r:.1f}x higher"
        target = row.target
        if row.check and h is not None:
            target += " ✅" if row.check(r, h) else " ❌"
        lines.append(f"| {row.label} | {ref_cell} | {mem_cell} | {sql_cell} | {ratio} | {target} |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 repetition, smaller N")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 3, quick 1)")
    ap.add_argument(
        "--only",
        action="append",
        default=[],
        help="run only this workload group or run key (repeatable): conversation, "
        "consulting, raw_post, memory, durable, hydrate, ws; e.g. hydrate_big, ws_turns",
    )
    ap.add_argument(
        "--size",
        action="append",
        default=[],
        metavar="KEY=N",
        help="override a run's N, e.g. --size hydrate=1000000 --impl hubbub "
        "(keys: conv_small conv_large consult raw_detached raw_attached mem_hub "
        "mem_hub_disk mem_agents durable durable_long durable_postgres durable_redis hydrate "
        "hydrate_big hydrate_postgres hydrate_redis)",
    )
    ap.add_argument("--impl", choices=["both", "ref", "hubbub"], default="both")
    ap.add_argument("--durable", action="store_true", help="also run (e)/(f) durable-hub workloads")
    ap.add_argument(
        "--ws",
        action="store_true",
        help="also run the WebSocket workloads (hub and clients in separate processes)",
    )
    ap.add_argument("--timeout", type=float, default=120.0, help="per-subprocess timeout, s")
    ap.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="time rates by wall clock (default) or by process CPU time (steadier on a "
        "shared machine)",
    )
    ap.add_argument("--out", default=os.path.join(HERE, "results", "latest.md"))
    ap.add_argument("--json", default=None, help="also dump raw samples to this JSON file")
    args = ap.parse_args()

    all_runs = runs_for(args.quick)
    sizes = dict(kv.split("=", 1) for kv in args.size)
    all_runs = [
        dataclasses.replace(r, n=int(sizes[r.key])) if r.key in sizes else r for r in all_runs
    ]

    def optional_wanted(r: Run) -> bool:
        if r.group in args.only or r.key in args.only:
            return True
        return args.ws if r.group == "ws" else args.durable

    selected = [
        r
        for r in all_runs
        if (not args.only or r.group in args.only or r.workload in args.only or r.key in args.only)
        and (not r.optional or optional_wanted(r))
    ]
    if not selected:
        ap.error(f"nothing selected by --only {args.only}")
    # The WebSocket workloads time thousands of operations each (and the reference's
    # capped ones take 30 s): one run each unless --reps says otherwise.
    only_ws = all(r.group == "ws" for r in selected)
    reps = args.reps or (1 if args.quick or only_ws else 3)
    impls = ["ref", "hubbub"] if args.impl == "both" else [args.impl]

    notes: list[str] = []
    available: list[str] = []
    for impl in impls:
        why = probe(impl)
        if why:
            notes.append(f"{impl}: not run — {why}")
            print(f"[bench] {impl}: not run — {why}", file=sys.stderr)
        else:
            available.append(impl)

    outcomes: dict[tuple[str, str], Outcome] = {}
    # Workloads may keep expensive inputs here for later repetitions of this
    # invocation (the filled 1M-envelope SQLite database of `hydrate_big`).
    cache_dir = tempfile.TemporaryDirectory(prefix="bench-cache-")
    os.environ["BENCH_CACHE_DIR"] = cache_dir.name
    load_start = os.getloadavg()[0]
    t_start = time.perf_counter()
    for rep in range(reps * max(r.rep_factor for r in selected)):
        for run in selected:
            if rep >= reps * run.rep_factor:
                continue
            for impl in available:
                if impl not in run.impls:
                    continue
                oc = outcomes.setdefault((impl, run.key), Outcome())
                if oc.skipped:
                    continue
                t0 = time.perf_counter()
                res = run_once(impl, run, args.timeout, args.clock)
                dt = time.perf_counter() - t0
                if "skipped" in res:
                    oc.skipped = str(res["skipped"])
                    status = f"skipped: {oc.skipped}"
                elif "error" in res:
                    oc.errors.append(str(res["error"]))
                    status = f"ERROR {res['error'][:300]}"
                else:
                    oc.samples.append(res)
                    status = ", ".join(
                        f"{k}={fmt(v)}" for k, v in res.items() if isinstance(v, int | float)
                    )
                print(
                    f"[bench] rep {rep + 1}/{reps * run.rep_factor} {impl:6s} {run.key:13s} "
                    f"n={run.n:<6d} {dt:6.1f}s  {status}",
                    file=sys.stderr,
                    flush=True,
                )

    cache_dir.cleanup()
    by_key = {r.key: r for r in all_runs}  # labels; rows without outcomes are skipped
    versions = {impl: version_of(impl) for impl in available}
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    header = "\n".join(
        [
            "# hubbub vs reference — side-by-side benchmark",
            "",
            f"{_dt.datetime.now(_dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} · "
            f"`scripts/bench {' '.join(sys.argv[1:])}`".rstrip()
            + " · "
            f"{os.cpu_count()} CPUs ({cpu}) · median of {reps} fresh-process run(s) each "
            f"({3 * reps} for conversation @100 and the 200-turn discussion and workflow) · "
            f"wall {time.perf_counter() - t_start:.0f}s",
            "",
            f"Clock: {args.clock} · 1-min load average {load_start:.1f} at start, "
            f"{os.getloadavg()[0]:.1f} at end (on {os.cpu_count()} CPUs; figures are "
            "depressed when other jobs share the machine, ratios less so: runs are "
            "interleaved)",
            "",
            "Interpreters (python, package version): "
            + "; ".join(f"{k}: {v}" for k, v in versions.items()),
            "",
            "Zero-latency scripted model (every model call answers a short text at once), "
            + (
                "hub and clients in separate processes over WebSocket (below)."
                if only_ws
                else "in-process hub, LocalLink, memory store unless stated."
            ),
        ]
    )
    table = render(by_key, outcomes, impls, reps, notes, header)
    print(table)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write(table)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {f"{i}:{k}": vars(o) for (i, k), o in outcomes.items()}, fh, indent=1, default=str
            )
    failed = any(o.errors and not o.samples for o in outcomes.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
