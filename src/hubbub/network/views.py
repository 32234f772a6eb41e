"""Views: how a session's log is projected into the history an agent's turn sees.

A view turns envelopes visible to one participant into agent events: the
participant's own messages become assistant turns (``ModelResponse``), everyone
else's become user turns (``ModelRequest``). Protocol events are left out.

Two ways to use a view:

* ``await view.project(wal_slice, participant_id=..., session=...)`` — the spec's
  batch form, from a list of envelopes;
* ``view.projection(participant_id, session)`` — an incremental ``Projection``
  that is fed envelopes one at a time and answers ``events(before_sequence)``
  in time independent of the session's length (what the default handler uses,
  so a turn's cost does not grow with history).

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
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
    "Projection",
    "ViewPolicy",
    "WindowedSummary",
    "view_for_name",
]

EnvelopeRenderer = Callable[[Envelope], "str | None"]


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
    ) -> list[BaseEvent]:
        """Return the events the participant's model sees; deterministic."""
        ...


@dataclass(slots=True)
class _Entry:
    sequence: int
    sender_id: str
    text: str


def _to_event(entry: _Entry, participant_id: str) -> BaseEvent:
    if entry.sender_id == participant_id:
        return ModelResponse(ModelMessage(entry.text))
    return ModelRequest([TextInput(entry.text)])


class Projection:
    """Incremental projection for one participant; fed in any order, kept in sequence order."""

    __slots__ = (
        "_elided",
        "_elided_senders",
        "_entries",
        "_keep",
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
    ) -> None:
        self._participant_id = participant_id
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

    def events(self, before_sequence: int | None = None) -> list[BaseEvent]:
        """Events for a turn answering the envelope at ``before_sequence`` (exclusive)."""
        if before_sequence is None:
            visible = list(self._entries)
        else:
            visible = [e for e in self._entries if e.sequence < before_sequence]
        pid = self._participant_id
        if self._recent_n is None or (len(visible) <= self._recent_n and not self._elided):
            return [_to_event(e, pid) for e in visible]
        cut = max(0, len(visible) - self._recent_n)
        elided = self._elided + cut
        senders = self._elided_senders.union(e.sender_id for e in visible[:cut])
        out: list[BaseEvent] = []
        if elided:
            out.append(
                CompactionSummary(
                    summary=f"Earlier in this session: {elided} message(s) from {', '.join(sorted(senders))}.",
                    event_count=elided,
                )
            )
        out.extend(_to_event(e, pid) for e in visible[cut:])
        return out


class _BaseView:
    name = ""
    _recent_n: int | None = None

    def projection(
        self,
        participant_id: str,
        session: SessionMetadata | None = None,
        render_envelope: EnvelopeRenderer = default_render_envelope,
    ) -> Projection:
        """A fresh incremental projection for ``participant_id``."""
        return Projection(participant_id, render_envelope, self._recent_n)

    async def project(
        self,
        wal_slice: Sequence[Envelope],
        *,
        participant_id: str,
        session: SessionMetadata,
        render_envelope: EnvelopeRenderer = default_render_envelope,
    ) -> list[BaseEvent]:
        """Batch projection of ``wal_slice`` (see the module docstring)."""
        return self.project_sync(
            wal_slice, participant_id=participant_id, render_envelope=render_envelope
        )

    def project_sync(
        self,
        wal_slice: Iterable[Envelope],
        *,
        participant_id: str,
        render_envelope: EnvelopeRenderer = default_render_envelope,
    ) -> list[BaseEvent]:
        """The same as ``project`` without the coroutine."""
        proj = Projection(participant_id, render_envelope, self._recent_n, slack=0)
        for env in wal_slice:
            proj.add(env)
        return proj.events()


class FullTranscript(_BaseView):
    """Every visible, rendered envelope, in order."""

    name = "full_transcript"

    def __repr__(self) -> str:
        return "FullTranscript()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FullTranscript)

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
    if name == WindowedSummary.name:
        n = len(metadata.participants) if metadata is not None else 2
        return WindowedSummary(10 if n <= 2 else max(2 * n, 4))
    raise ValueError(f"unknown view policy {name!r}")
