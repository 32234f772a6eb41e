"""Views (spec §12): FullTranscript, WindowedSummary and the incremental Projection."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.events import (
    BaseEvent,
    CompactionSummary,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextInput,
)
from hubbub.network.adapters.base import default_render_envelope
from hubbub.network.envelope import (
    EV_EXPECTATION_VIOLATED,
    EV_SESSION_CLOSED,
    EV_SESSION_OPENED,
    EV_TASK_STARTED,
    EV_TEXT,
    Envelope,
    visible_to,
)
from hubbub.network.session import Participant, ParticipantRole, SessionManifest, SessionMetadata
from hubbub.network.views import (
    FullTranscript,
    Projection,
    ViewPolicy,
    WindowedSummary,
    view_for_name,
)

ALICE, BOB, CAROL = "alice", "bob", "carol"


def session(n: int = 2) -> SessionMetadata:
    ids = [ALICE, BOB, CAROL, "dave", "erin"][:n]
    return SessionMetadata(
        session_id="s1",
        manifest=SessionManifest("conversation"),
        creator_id=ALICE,
        participants=[
            Participant(a, ParticipantRole.INITIATOR if i == 0 else ParticipantRole.PARTICIPANT, i)
            for i, a in enumerate(ids)
        ],
    )


def text(sender: str, body: object, seq: int = 0, audience: list[str] | None = None) -> Envelope:
    return Envelope("s1", sender, audience, EV_TEXT, {"text": body}, sequence=seq)


def mine(t: str) -> ModelResponse:
    return ModelResponse(ModelMessage(t))


def theirs(t: str) -> ModelRequest:
    return ModelRequest([TextInput(t)])


# --- FullTranscript --------------------------------------------------------------------


async def test_full_transcript_maps_own_and_others_messages() -> None:
    wal = [text(ALICE, "q", 1), text(BOB, "a", 2), text(ALICE, "thanks", 3)]
    events = await FullTranscript().project(wal, participant_id=ALICE, session=session())
    assert events == [mine("q"), theirs("a"), mine("thanks")]
    events = await FullTranscript().project(wal, participant_id=BOB, session=session())
    assert events == [theirs("q"), mine("a"), theirs("thanks")]


async def test_full_transcript_honours_audience() -> None:
    wal = [
        text(ALICE, "to bob", 1, audience=[BOB]),
        text(ALICE, "to carol", 2, audience=[CAROL]),
        text(BOB, "to nobody", 3, audience=[]),
        text(CAROL, "to all", 4),
    ]
    sess = session(3)
    view = FullTranscript()
    assert await view.project(wal, participant_id=BOB, session=sess) == [
        theirs("to bob"),
        mine("to nobody"),  # the sender always sees its own envelope
        theirs("to all"),
    ]
    assert await view.project(wal, participant_id=CAROL, session=sess) == [
        theirs("to carol"),
        mine("to all"),
    ]
    assert await view.project(wal, participant_id=ALICE, session=sess) == [
        mine("to bob"),
        mine("to carol"),
        theirs("to all"),
    ]


async def test_protocol_custom_and_malformed_events_are_skipped() -> None:
    wal = [
        Envelope("s1", ALICE, None, EV_SESSION_OPENED, {"session_id": "s1"}, sequence=1),
        text(ALICE, "hello", 2),
        Envelope("s1", BOB, None, EV_TASK_STARTED, {"text": "no"}, sequence=3),
        Envelope("s1", BOB, None, EV_EXPECTATION_VIOLATED, {"text": "no"}, sequence=4),
        Envelope("s1", BOB, None, "app.custom", {"text": "no"}, sequence=5),
        text(BOB, 42, 6),  # non-str text
        Envelope("s1", BOB, None, EV_TEXT, {}, sequence=7),  # missing text
        Envelope("s1", ALICE, None, EV_SESSION_CLOSED, {"reason": "x"}, sequence=8),
    ]
    assert await FullTranscript().project(wal, participant_id=BOB, session=session()) == [
        theirs("hello")
    ]


async def test_custom_renderer_is_used() -> None:
    wal = [Envelope("s1", BOB, None, "app.note", {"note": "n1"}, sequence=1), text(BOB, "t", 2)]

    def render(env: Envelope) -> str | None:
        return f"[note] {env.event_data['note']}" if env.event_type == "app.note" else None

    events = await FullTranscript().project(
        wal, participant_id=ALICE, session=session(), render_envelope=render
    )
    assert events == [theirs("[note] n1")]


# --- WindowedSummary -------------------------------------------------------------------


async def test_windowed_summary_prepends_one_summary_then_recent_n() -> None:
    wal = [
        text(CAROL, "c1", 1),
        text(BOB, "b1", 2),
        text(ALICE, "a1", 3),
        text(BOB, "b2", 4),
        text(ALICE, "a2", 5),
    ]
    events = await WindowedSummary(recent_n=2).project(
        wal, participant_id=ALICE, session=session(3)
    )
    assert events == [
        CompactionSummary(
            summary="Earlier in this session: 3 message(s) from alice, bob, carol.", event_count=3
        ),
        theirs("b2"),
        mine("a2"),
    ]


async def test_windowed_summary_without_overflow_has_no_summary() -> None:
    wal = [text(ALICE, "a", 1), text(BOB, "b", 2)]
    view = WindowedSummary(recent_n=2)
    assert await view.project(wal, participant_id=BOB, session=session()) == [
        theirs("a"),
        mine("b"),
    ]
    assert await view.project([], participant_id=BOB, session=session()) == []


async def test_windowed_summary_counts_only_visible_rendered_envelopes() -> None:
    wal = [
        text(ALICE, "secret", 1, audience=[CAROL]),  # invisible to bob
        Envelope("s1", ALICE, None, EV_SESSION_OPENED, {}, sequence=2),  # not rendered
        text(CAROL, "c", 3),
        text(ALICE, "a", 4),
    ]
    events = await WindowedSummary(recent_n=1).project(wal, participant_id=BOB, session=session(3))
    assert events == [
        CompactionSummary(
            summary="Earlier in this session: 1 message(s) from carol.", event_count=1
        ),
        theirs("a"),
    ]


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", None])
def test_windowed_summary_rejects_bad_recent_n(bad: object) -> None:
    with pytest.raises(ValueError, match="recent_n"):
        WindowedSummary(recent_n=bad)  # type: ignore[arg-type]


def test_view_identity_and_names() -> None:
    assert WindowedSummary(3).recent_n == 3
    assert WindowedSummary().recent_n == 10
    assert WindowedSummary(3) == WindowedSummary(3)
    assert WindowedSummary(3) != WindowedSummary(4)
    assert hash(WindowedSummary(3)) == hash(WindowedSummary(3))
    assert FullTranscript() == FullTranscript()
    assert FullTranscript() != WindowedSummary(3)
    assert (FullTranscript.name, WindowedSummary.name) == ("full_transcript", "windowed_summary")
    assert isinstance(FullTranscript(), ViewPolicy)
    assert isinstance(WindowedSummary(), ViewPolicy)


@pytest.mark.parametrize(
    ("name", "n", "expected"),
    [
        ("full_transcript", 2, FullTranscript()),
        ("windowed_summary", 2, WindowedSummary(10)),
        ("windowed_summary", 3, WindowedSummary(6)),
        ("windowed_summary", 5, WindowedSummary(10)),
    ],
)
def test_view_for_name(name: str, n: int, expected: ViewPolicy) -> None:
    assert view_for_name(name, session(n)) == expected


def test_view_for_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown view policy"):
        view_for_name("nope")


# --- Projection: incremental == batch --------------------------------------------------


def test_projection_out_of_order_add_is_sorted_by_sequence() -> None:
    proj = FullTranscript().projection(ALICE)
    for env in (text(BOB, "3", 3), text(ALICE, "1", 1), text(BOB, "4", 4), text(BOB, "2", 2)):
        proj.add(env)
    assert proj.events() == [mine("1"), theirs("2"), theirs("3"), theirs("4")]


def test_projection_before_sequence_is_exclusive() -> None:
    proj = FullTranscript().projection(BOB)
    for i in range(1, 6):
        proj.add(text(ALICE, f"m{i}", i))
    assert proj.events(before_sequence=3) == [theirs("m1"), theirs("m2")]
    assert proj.events(before_sequence=1) == []
    assert proj.events(before_sequence=100) == proj.events()


def test_projection_windowed_before_sequence() -> None:
    proj = WindowedSummary(recent_n=2).projection(BOB)
    for i in range(1, 7):
        proj.add(text(ALICE if i % 2 else CAROL, f"m{i}", i))
    assert proj.events(before_sequence=5) == [
        CompactionSummary(
            summary="Earlier in this session: 2 message(s) from alice, carol.", event_count=2
        ),
        theirs("m3"),
        theirs("m4"),
    ]


@pytest.mark.parametrize("order", [[1, 2, 2], [2, 1, 2], [2, 1, 1]])
def test_projection_ignores_a_redelivered_envelope(order: list[int]) -> None:
    """A reconnect replays the gap from the WAL, so the same envelope can arrive twice."""
    proj = FullTranscript().projection(BOB)
    for seq in order:
        proj.add(text(ALICE, f"m{seq}", seq))
    assert proj.events() == [theirs("m1"), theirs("m2")]


def test_projection_unstamped_envelopes_all_count() -> None:
    """Envelopes that were never stamped (sequence 0) keep their arrival order."""
    proj = FullTranscript().projection(BOB)
    for t in ("x", "y", "x"):
        proj.add(text(ALICE, t))
    assert proj.events() == [theirs("x"), theirs("y"), theirs("x")]


def test_projection_direct_construction() -> None:
    proj = Projection(BOB, default_render_envelope, recent_n=None)
    proj.add(text(ALICE, "m", 1))
    assert proj.events() == [theirs("m")]


members = st.sampled_from([ALICE, BOB, CAROL])
bodies = st.one_of(st.text(max_size=5), st.integers(), st.none())


@st.composite
def logs(draw: st.DrawFn) -> list[Envelope]:
    """A WAL: unique ascending sequences, random senders/audiences/types/payloads."""
    n = draw(st.integers(min_value=0, max_value=70))
    out = []
    for seq in range(1, n + 1):
        kind = draw(st.sampled_from(["text", "text", "text", "protocol", "custom"]))
        sender = draw(members)
        audience = draw(st.one_of(st.none(), st.lists(members, max_size=3, unique=True)))
        if kind == "text":
            out.append(text(sender, draw(bodies), seq, audience))
        else:
            et = EV_SESSION_OPENED if kind == "protocol" else "app.custom"
            out.append(Envelope("s1", sender, audience, et, {"text": "x"}, sequence=seq))
    return out


views = st.one_of(st.just(FullTranscript()), st.builds(WindowedSummary, st.integers(1, 6)))


def _batch(
    view: FullTranscript | WindowedSummary, wal: list[Envelope], pid: str
) -> list[BaseEvent]:
    return view.project_sync(wal, participant_id=pid)


@settings(max_examples=150, deadline=None)
@given(wal=logs(), view=views, pid=members, data=st.data())
async def test_incremental_projection_equals_batch(
    wal: list[Envelope], view: FullTranscript | WindowedSummary, pid: str, data: st.DataObject
) -> None:
    batch = await view.project(wal, participant_id=pid, session=session(3))
    assert batch == _batch(view, wal, pid)
    arrival = data.draw(st.permutations(wal))
    proj = view.projection(pid, session(3))
    for env in arrival:
        proj.add(env)
    assert proj.events() == batch
    assert proj.events(before_sequence=None) == batch


@settings(max_examples=150, deadline=None)
@given(wal=logs(), view=views, pid=members, data=st.data())
def test_projection_before_sequence_equals_batch_prefix(
    wal: list[Envelope], view: FullTranscript | WindowedSummary, pid: str, data: st.DataObject
) -> None:
    # Answering one of the last 30 envelopes: within the projection's slack (32).
    lo = max(1, len(wal) - 29)
    cut = data.draw(st.integers(min_value=lo, max_value=len(wal) + 1))
    proj = view.projection(pid)
    for env in wal:
        proj.add(env)
    prefix = [e for e in wal if e.sequence < cut]
    assert proj.events(before_sequence=cut) == _batch(view, prefix, pid)


@settings(max_examples=100, deadline=None)
@given(wal=logs(), pid=members)
def test_windowed_is_summary_plus_tail_of_full(wal: list[Envelope], pid: str) -> None:
    full = _batch(FullTranscript(), wal, pid)
    windowed = _batch(WindowedSummary(3), wal, pid)
    if len(full) <= 3:
        assert windowed == full
    else:
        head, *tail = windowed
        assert tail == full[-3:]
        assert isinstance(head, CompactionSummary)
        assert head.event_count == len(full) - 3
        shown = [e for e in wal if visible_to(e, pid) and default_render_envelope(e) is not None]
        senders = ", ".join(sorted({e.sender_id for e in shown[:-3]}))
        assert (
            head.summary == f"Earlier in this session: {len(shown) - 3} message(s) from {senders}."
        )
