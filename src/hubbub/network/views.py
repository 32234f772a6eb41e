"""Views: how a session's log is projected into the history an agent's turn sees.

A view turns envelopes visible to one participant into agent events: the
participant's own messages become assistant turns (``ModelResponse``), everyone
else's become user turns (``ModelRequest``). Protocol events are left out.

**Names.** ``NamedTranscript`` is ``FullTranscript`` with every other participant's
message prefixed by its sender's name (``"alice: hello"``), so a model in a session
with several others (or a human) knows who said what. Views take the names from a
``name_for(agent_id) -> name | None`` callable (``project(..., name_for=...)``,
``Projection.events(..., name_for=...)``); a view whose ``wants_names`` is True gets
one from the default handler, which asks the hub for the participants' names. An id
without a name (an agent since unregistered) is shown as the id.

Two ways to use a view:

* ``await view.project(wal_slice, participant_id=..., session=...)`` — the spec's
  batch form, from a list of envelopes;
* ``view.projection(participant_id, session)`` — an incremental ``Projection``
  that is fed envelopes one at a time and answers ``events(before_sequence, name_for=)``
  in time independent of the session's length (what the default handler uses,
  so a turn's cost does not grow with history).

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from operator import attrgetter
from typing import Protocol, runtime_checkable

from hubbub.events import (
    BaseEvent,
    CompactionSummary,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextInput,
)
from hubbub.network.adapters.base import default_render_envelope
from hubbub.network.envelope import Envelope, visible_to
from hubbub.network.session import SessionMetadata

__all__ = [
    "EnvelopeRenderer",
    "FullTranscript",
    "NameResolver",
    "NamedTranscript",
    "Projection",
    "ViewPolicy",
    "WindowedSummary",
    "view_for_name",
]

EnvelopeRenderer = Callable[[Envelope], "str | None"]

#: ``agent_id → name`` (None when the hub knows no name for that id).
NameResolver = Callable[[str], "str | None"]


@runtime_checkable
class ViewPolicy(Protocol):
    """Projects a session's envelopes into one participant's turn history."""

    name: str

    async def project(
        self,
        wal_slice: Sequence[Envelope],
        *,
        participant_id: str,
        session: SessionMetadata,
        render_envelope: EnvelopeRenderer = default_render_envelope,
        name_for: NameResolver | None = None,
    ) -> list[BaseEvent]:
        """Return the events the participant's model sees; deterministic.

        ``name_for`` resolves sender ids to names for views that show them (others
        ignore it).
        """
        ...


@dataclass(slots=True)
class _Entry:
    sequence: int
    sender_id: str
    text: str
    # the event last built for it and the name it was built with (see _event)
    event: BaseEvent | None = None
    shown_as: str | None = None


def _event(entry: _Entry, participant_id: str, name_for: NameResolver | None) -> BaseEvent:
    """The entry as an event; built once and reused by later turns (events are not
    mutated once made), rebuilt only if the sender's shown name changes."""
    if entry.sender_id == participant_id:
        shown = None
    elif name_for is None:
        shown = ""
    else:
        shown = name_for(entry.sender_id) or entry.sender_id
    event = entry.event
    if event is not None and entry.shown_as == shown:
        return event
    if shown is None:
        event = ModelResponse(ModelMessage(entry.text))
    elif shown == "":
        event = ModelRequest([TextInput(entry.text)])
    else:
        event = ModelRequest([TextInput(f"{shown}: {entry.text}")])
    entry.event, entry.shown_as = event, shown
    return event


_sender_of = attrgetter("sender_id")


def _events(
    entries: Iterable[_Entry], participant_id: str, name_for: NameResolver | None
) -> list[BaseEvent]:
    """The entries as events. Without names an entry's event, once built, never changes."""
    if name_for is None:
        return [
            e.event if e.event is not None else _event(e, participant_id, None) for e in entries
        ]
    return [_event(e, participant_id, name_for) for e in entries]


class Projection:
    """Incremental projection for one participant; fed in any order, kept in sequence order."""

    __slots__ = (
        "_elided",
        "_elided_senders",
        "_entries",
        "_keep",
        "_named",
        "_participant_id",
        "_recent_n",
        "_render",
    )

    def __init__(
        self,
        participant_id: str,
        render_envelope: EnvelopeRenderer,
        recent_n: int | None,
        slack: int = 32,
        *,
        named: bool = False,
    ) -> None:
        self._participant_id = participant_id
        self._named = named  # others' messages carry their sender's name
        self._render = render_envelope
        self._recent_n = recent_n
        # A windowed view keeps a little more than its window so that envelopes
        # admitted after the one being answered do not push needed ones out.
        self._keep = None if recent_n is None else recent_n + slack
        self._entries: deque[_Entry] = deque()
        self._elided = 0
        self._elided_senders: set[str] = set()

    def add(self, envelope: Envelope) -> None:
        """Take one admitted envelope into account (ignored if invisible or unrendered)."""
        if not visible_to(envelope, self._participant_id):
            return
        text = self._render(envelope)
        if text is None:
            return
        entry = _Entry(envelope.sequence, envelope.sender_id, text)
        entries = self._entries
        last = entries[-1].sequence if entries else -1
        if last < entry.sequence or (entry.sequence == 0 and last == 0):
            entries.append(entry)  # in order (unstamped envelopes keep arrival order)
        elif last == entry.sequence:
            return  # the same admitted envelope fed twice
        else:  # arrived out of order: insert by sequence (short walk from the end)
            idx = len(entries)
            while idx > 0 and entries[idx - 1].sequence > entry.sequence:
                idx -= 1
            if idx > 0 and entries[idx - 1].sequence == entry.sequence:
                return
            entries.insert(idx, entry)
        if self._keep is not None and len(entries) > self._keep:
            old = entries.popleft()
            self._elided += 1
            self._elided_senders.add(old.sender_id)

    @property
    def wants_names(self) -> bool:
        """True when :meth:`events` prefixes others' messages with names (``name_for``)."""
        return self._named

    def events(
        self, before_sequence: int | None = None, *, name_for: NameResolver | None = None
    ) -> list[BaseEvent]:
        """Events for a turn answering the envelope at ``before_sequence`` (exclusive).

        A named projection prefixes others' messages with ``name_for(sender_id)``
        (the id itself without ``name_for``, or when it gives no name); any other
        ignores ``name_for``.
        """
        if self._named:
            names: NameResolver | None = name_for if name_for is not None else _no_name
        else:
            names = None
        entries = self._entries
        end = len(entries)
        if before_sequence is not None:  # entries are in sequence order: cut from the end
            while end and entries[end - 1].sequence >= before_sequence:
                end -= 1
        pid = self._participant_id
        if self._recent_n is None or (end <= self._recent_n and not self._elided):
            return _events(islice(entries, end), pid, names)
        cut = max(0, end - self._recent_n)
        elided = self._elided + cut
        out: list[BaseEvent] = []
        if elided:
            senders = self._elided_senders.union(map(_sender_of, islice(entries, cut)))
            out.append(
                CompactionSummary(
                    summary=f"Earlier in this session: {elided} message(s) from {', '.join(sorted(senders))}.",
                    event_count=elided,
                )
            )
        out.extend(_events(islice(entries, cut, end), pid, names))
        return out


def _no_name(agent_id: str) -> str | None:
    return None


class _BaseView:
    name = ""
    #: Whether the view shows sender names (the default handler then passes ``name_for``).
    wants_names = False
    _recent_n: int | None = None

    def projection(
        self,
        participant_id: str,
        session: SessionMetadata | None = None,
        render_envelope: EnvelopeRenderer = default_render_envelope,
    ) -> Projection:
        """A fresh incremental projection for ``participant_id``."""
        return Projection(participant_id, render_envelope, self._recent_n, named=self.wants_names)

    async def project(
        self,
        wal_slice: Sequence[Envelope],
        *,
        participant_id: str,
        session: SessionMetadata,
        render_envelope: EnvelopeRenderer = default_render_envelope,
        name_for: NameResolver | None = None,
    ) -> list[BaseEvent]:
        """Batch projection of ``wal_slice`` (see the module docstring)."""
        return self.project_sync(
            wal_slice,
            participant_id=participant_id,
            render_envelope=render_envelope,
            name_for=name_for,
        )

    def project_sync(
        self,
        wal_slice: Iterable[Envelope],
        *,
        participant_id: str,
        render_envelope: EnvelopeRenderer = default_render_envelope,
        name_for: NameResolver | None = None,
    ) -> list[BaseEvent]:
        """The same as ``project`` without the coroutine."""
        proj = Projection(
            participant_id, render_envelope, self._recent_n, slack=0, named=self.wants_names
        )
        for env in wal_slice:
            proj.add(env)
        return proj.events(name_for=name_for)


class FullTranscript(_BaseView):
    """Every visible, rendered envelope, in order."""

    name = "full_transcript"

    def __repr__(self) -> str:
        return "FullTranscript()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FullTranscript)

    def __hash__(self) -> int:
        return hash(self.name)


class NamedTranscript(_BaseView):
    """Every visible, rendered envelope, in order, others' prefixed with the sender's name.

    ``"alice: hello"`` where :class:`FullTranscript` has ``"hello"``. The
    participant's own messages stay unprefixed assistant turns: a model shown its
    own name before its words tends to start writing it into its replies.
    """

    name = "named_transcript"
    wants_names = True

    def __repr__(self) -> str:
        return "NamedTranscript()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NamedTranscript)

    def __hash__(self) -> int:
        return hash(self.name)


class WindowedSummary(_BaseView):
    """The last ``recent_n`` visible envelopes, preceded by one summary of what was elided."""

    name = "windowed_summary"

    def __init__(self, recent_n: int = 10) -> None:
        if not isinstance(recent_n, int) or recent_n < 1:
            raise ValueError(f"WindowedSummary.recent_n must be an integer >= 1, got {recent_n!r}")
        self._recent_n = recent_n

    @property
    def recent_n(self) -> int:
        """How many recent envelopes are kept verbatim."""
        assert self._recent_n is not None
        return self._recent_n

    def __repr__(self) -> str:
        return f"WindowedSummary(recent_n={self._recent_n})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WindowedSummary) and other._recent_n == self._recent_n

    def __hash__(self) -> int:
        return hash((self.name, self._recent_n))


def view_for_name(name: str, metadata: SessionMetadata | None = None) -> ViewPolicy:
    """Build a built-in view from its manifest name (windowed size scales with participants)."""
    if name == FullTranscript.name:
        return FullTranscript()
    if name == NamedTranscript.name:
        return NamedTranscript()
    if name == WindowedSummary.name:
        n = len(metadata.participants) if metadata is not None else 2
        return WindowedSummary(10 if n <= 2 else max(2 * n, 4))
    raise ValueError(f"unknown view policy {name!r}")
