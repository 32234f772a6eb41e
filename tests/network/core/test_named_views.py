"""NamedTranscript and the ``name_for`` parameter of views (§12), sans-I/O."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hubbub.events import ModelMessage, ModelRequest, ModelResponse, TextInput
from hubbub.network.envelope import EV_SESSION_OPENED, EV_TEXT, Envelope
from hubbub.network.session import Participant, ParticipantRole, SessionManifest, SessionMetadata
from hubbub.network.views import (
    FullTranscript,
    NamedTranscript,
    Projection,
    ViewPolicy,
    WindowedSummary,
    view_for_name,
)

NAMES = {"id-a": "alice", "id-b": "bob", "id-c": "carol"}


def session() -> SessionMetadata:
    return SessionMetadata(
        session_id="s1",
        manifest=SessionManifest("conversation"),
        creator_id="id-a",
        participants=[
            Participant(a, ParticipantRole.INITIATOR if i == 0 else ParticipantRole.PARTICIPANT, i)
            for i, a in enumerate(NAMES)
        ],
    )


def text(sender: str, body: str, seq: int, audience: list[str] | None = None) -> Envelope:
    return Envelope("s1", sender, audience, EV_TEXT, {"text": body}, sequence=seq)


WAL = [
    Envelope("s1", "hub", None, EV_SESSION_OPENED, {"session_id": "s1"}, sequence=1),
    text("id-a", "hello", 2),
    text("id-b", "hi", 3),
    text("id-c", "to bob only", 4, audience=["id-b"]),
    text("id-x", "from a ghost", 5),
]


async def test_named_transcript_prefixes_others_with_their_names() -> None:
    view = NamedTranscript()
    assert isinstance(view, ViewPolicy) and view.wants_names and view.name == "named_transcript"
    events = await view.project(WAL, participant_id="id-a", session=session(), name_for=NAMES.get)
    assert events == [
        ModelResponse(ModelMessage("hello")),  # own messages stay as they are
        ModelRequest([TextInput("bob: hi")]),
        ModelRequest([TextInput("id-x: from a ghost")]),  # no name known: the id
    ]
    events = await view.project(WAL, participant_id="id-b", session=session(), name_for=NAMES.get)
    assert [e.parts[0].content for e in events if isinstance(e, ModelRequest)] == [
        "alice: hello",
        "carol: to bob only",  # the audience is honoured as in FullTranscript
        "id-x: from a ghost",
    ]


async def test_named_transcript_without_a_resolver_shows_ids() -> None:
    events = await NamedTranscript().project(WAL, participant_id="id-a", session=session())
    assert events[1] == ModelRequest([TextInput("id-b: hi")])


async def test_other_views_ignore_name_for() -> None:
    for view in (FullTranscript(), WindowedSummary(2)):
        assert not view.wants_names
        plain = await view.project(WAL, participant_id="id-a", session=session())
        named = await view.project(
            WAL, participant_id="id-a", session=session(), name_for=NAMES.get
        )
        assert plain == named


def test_incremental_projection_names_at_read_time() -> None:
    proj = NamedTranscript().projection("id-a", session())
    assert isinstance(proj, Projection) and proj.wants_names
    for env in reversed(WAL):  # fed out of order, read in sequence order
        proj.add(env)
    assert proj.events(before_sequence=4, name_for=NAMES.get) == [
        ModelResponse(ModelMessage("hello")),
        ModelRequest([TextInput("bob: hi")]),
    ]
    # the same entries with other names: names are not baked in when fed
    assert proj.events(before_sequence=4, name_for={"id-b": "Robert"}.get)[1] == ModelRequest(
        [TextInput("Robert: hi")]
    )
    assert not FullTranscript().projection("id-a").wants_names


def test_view_for_name_builds_named_transcript() -> None:
    assert view_for_name("named_transcript") == NamedTranscript()
    assert NamedTranscript() != FullTranscript() and FullTranscript() != NamedTranscript()
    assert hash(NamedTranscript()) == hash(NamedTranscript())


_ids = st.sampled_from(["id-a", "id-b", "id-c", "id-x"])


@given(st.lists(st.tuples(_ids, st.text(min_size=1, max_size=5)), max_size=20), _ids)
def test_batch_and_incremental_agree_and_full_is_named_without_prefixes(
    messages: list[tuple[str, str]], me: str
) -> None:
    wal = [text(s, t, i + 1) for i, (s, t) in enumerate(messages)]
    batch = NamedTranscript().project_sync(wal, participant_id=me, name_for=NAMES.get)
    proj = NamedTranscript().projection(me)
    for env in wal:
        proj.add(env)
    assert proj.events(name_for=NAMES.get) == batch
    full = FullTranscript().project_sync(wal, participant_id=me)
    assert len(full) == len(batch)
    for f, n, (sender, body) in zip(full, batch, messages, strict=True):
        if sender == me:
            assert f == n
        else:
            assert n == ModelRequest([TextInput(f"{NAMES.get(sender, sender)}: {body}")])
