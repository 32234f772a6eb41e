"""Expectation evaluators: pure checks of a session's liveness promises.

The hub keeps a small ``SessionActivity`` record per live session, updated as
envelopes are admitted, so a sweep costs O(active sessions), not O(history).
Evaluators read it (and the metadata and adapter state) and return a
``Violation`` or None. Handlers — what happens on a violation — live in the
hub (``hubbub.network.hub.violations``) because they act.

Pure: no I/O, no clock (the hub passes ``now``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from hubbub.network.envelope import EV_EXPECTATION_VIOLATED, EV_TEXT, Envelope, is_protocol_event
from hubbub.network.rule import parse_duration
from hubbub.network.session import Expectation, SessionMetadata, SessionState

__all__ = [
    "AcksWithin",
    "ExpectationContext",
    "ExpectationEvaluator",
    "MaxSilence",
    "ReplyWithin",
    "SessionActivity",
    "TurnWithin",
    "Violation",
    "default_evaluators",
]


_NO_TIMES: dict[str, float] = {}


@dataclass(slots=True)
class SessionActivity:
    """What the evaluators need to know about a session's traffic, in epoch seconds.

    ``last_content_at``: last admitted envelope that is not a protocol event
    (falls back to the creation time). ``text_to``: per participant, when a text
    was last addressed to them (broadcast or audience) that they have not
    answered yet (an entry is dropped when they send a text). ``text_from``: when
    they last sent a text.
    """

    created_at: float
    last_content_at: float
    # Until the first text, both share one empty dict (never written to): an idle
    # session costs no dicts of its own. ``observe`` gives each its own on first use.
    text_to: dict[str, float] = field(default_factory=lambda: _NO_TIMES)
    text_from: dict[str, float] = field(default_factory=lambda: _NO_TIMES)

    def observe(self, envelope: Envelope, at: float, participants: Sequence[str]) -> None:
        """Account for one admitted envelope stamped at ``at``."""
        et = envelope.event_type
        if is_protocol_event(et) or et == EV_EXPECTATION_VIOLATED:
            return
        self.last_content_at = at
        if et != EV_TEXT:
            return
        sender = envelope.sender_id
        if self.text_from is _NO_TIMES:
            self.text_from = {}
        self.text_from[sender] = at
        # The sender has answered whatever was addressed to it. Cleared here, in
        # admission order, rather than compared by time in the evaluator: under a
        # frozen (mock) clock a reply and a later question share one timestamp.
        text_to = self.text_to
        text_to.pop(sender, None)
        targets = participants if envelope.audience is None else envelope.audience
        for pid in targets:
            if pid != sender:
                if text_to is _NO_TIMES:
                    text_to = self.text_to = {}
                text_to[pid] = at


@dataclass(slots=True)
class ExpectationContext:
    """Everything an evaluator may read; ``wal`` is only filled for evaluators that ask."""

    metadata: SessionMetadata
    state: Any
    activity: SessionActivity
    now_iso: str
    now_seconds: float
    wal: Sequence[Envelope] = ()


@dataclass(slots=True)
class Violation:
    """A broken promise; empty ``violator_ids`` means session-wide."""

    expectation: Expectation
    violator_ids: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class ExpectationEvaluator(Protocol):
    """Checks one kind of expectation. Set ``needs_wal = True`` to receive ``context.wal``."""

    name: str

    def evaluate(self, expectation: Expectation, context: ExpectationContext) -> Violation | None:
        """Return a Violation when the promise is broken, else None."""
        ...


def _seconds(expectation: Expectation, default: float) -> float:
    """The ``seconds`` parameter: a number or a duration string ("30s", "15m", "2h");
    ``default`` when absent or not a duration."""
    value = expectation.params.get("seconds", default)
    if isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(parse_duration(value))
        except ValueError:
            return default
    return default


class AcksWithin:
    """Invitees must ack within ``seconds`` (default 30) while the session is PENDING."""

    name = "acks_within"

    def evaluate(self, expectation: Expectation, context: ExpectationContext) -> Violation | None:
        """Flag the invitees still pending after the threshold."""
        meta = context.metadata
        if meta.state is not SessionState.PENDING or not meta.pending_acks:
            return None
        threshold = _seconds(expectation, 30)
        elapsed = context.now_seconds - context.activity.created_at
        if elapsed < threshold:
            return None
        return Violation(
            expectation,
            sorted(meta.pending_acks),
            {"elapsed_seconds": elapsed, "threshold_seconds": threshold},
        )


class ReplyWithin:
    """A participant addressed by a text must send a text within ``seconds`` (default 600)."""

    name = "reply_within"

    def evaluate(self, expectation: Expectation, context: ExpectationContext) -> Violation | None:
        """Flag participants with an unanswered text older than the threshold."""
        if context.metadata.state is not SessionState.ACTIVE:
            return None
        threshold = _seconds(expectation, 600)
        act = context.activity
        late = []
        for pid in context.metadata.participant_ids():
            addressed = act.text_to.get(pid)  # only unanswered texts are kept
            if addressed is None:
                continue
            if context.now_seconds - addressed >= threshold:
                late.append(pid)
        if not late:
            return None
        return Violation(expectation, late, {"threshold_seconds": threshold})


class MaxSilence:
    """Some content must be posted at least every ``seconds`` (default 3600)."""

    name = "max_silence"

    def evaluate(self, expectation: Expectation, context: ExpectationContext) -> Violation | None:
        """Flag the whole session after too long without content."""
        if context.metadata.state is not SessionState.ACTIVE:
            return None
        threshold = _seconds(expectation, 3600)
        elapsed = context.now_seconds - context.activity.last_content_at
        if elapsed < threshold:
            return None
        return Violation(
            expectation, [], {"elapsed_seconds": elapsed, "threshold_seconds": threshold}
        )


class TurnWithin:
    """The expected next speaker must speak within ``seconds`` (default 120)."""

    name = "turn_within"

    def evaluate(self, expectation: Expectation, context: ExpectationContext) -> Violation | None:
        """Flag the expected speaker (or the session when the adapter names none)."""
        if context.metadata.state is not SessionState.ACTIVE:
            return None
        threshold = _seconds(expectation, 120)
        elapsed = context.now_seconds - context.activity.last_content_at
        if elapsed < threshold:
            return None
        expected = getattr(context.state, "expected_next_speaker", None)
        violators = [expected] if isinstance(expected, str) and expected else []
        return Violation(
            expectation,
            violators,
            {
                "elapsed_seconds": elapsed,
                "threshold_seconds": threshold,
                "expected_speaker": expected,
            },
        )


def default_evaluators() -> list[ExpectationEvaluator]:
    """Fresh instances of the built-in evaluators."""
    return [AcksWithin(), ReplyWithin(), MaxSilence(), TurnWithin()]
