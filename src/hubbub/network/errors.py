"""The one error tree of the network layer.

Every error carries a stable ``code`` that travels unchanged over the wire
(``ErrorFrame.code``), so remote callers can branch on it::

    NetworkError                   code "error"
    ├── NotFoundError              code "not_found"          unknown agent / session / task / adapter
    ├── AccessDeniedError          code "access_denied"      rule or authorization denial
    │                              (code "delegation_too_deep": over Rule.limits.delegation_depth)
    ├── AuthError                  code "auth_failed"        credential rejected, unknown scheme
    │   └── UnauthenticatedError   code "unauthenticated"    a connection's credential is missing, bad or expired
    ├── NameTakenError             code "name_taken"         name held by a live connection / other owner
    ├── InvalidValueError          code "invalid_value"      a Rule / Passport / Resume / duration field
    │                              (also ValueError)         or call argument is not acceptable
    ├── ProtocolError              code "protocol_error"     bad envelope, out-of-turn send, closed
    │   │                                                    session, handshake failure
    │   └── SessionCorruptError    code "session_corrupt"    the session's WAL does not replay (quarantined)
    ├── InboxFull                  code "inbox_full"         recipient at capacity
    ├── WorkflowGraphError         code "bad_graph"          transition registry miss / bad graph data
    ├── StoreError                 code "store_error"        the knowledge store refused or failed
    │   ├── StoreUnavailableError  code "store_unavailable"  an I/O failure: disk full, server down
    │   └── StoreLockedError       code "store_locked"       another hub holds the store's writer lock
    │                              (code "foreign_store": the store holds another application's data)
    ├── ReplayError                code "replay_diverged"    a WAL does not replay
    ├── TurnFailedError            code "turn_failed"        a participant's turn failed (posted to peers)
    └── SessionTimeoutError        code "timeout"            a wait ran out (also TimeoutError)

A subclass instance may carry a more specific code (``ProtocolError(...,
code="payload_too_large")``); the class stays the same so ``except`` clauses
keep working. ``CODES`` lists every code the hub emits and what it means; the
README prints the same table.
"""

from __future__ import annotations

__all__ = [
    "CODES",
    "AccessDeniedError",
    "AuthError",
    "InboxFull",
    "InvalidValueError",
    "NameTakenError",
    "NetworkError",
    "NotFoundError",
    "ProtocolError",
    "ReplayError",
    "SessionCorruptError",
    "SessionTimeoutError",
    "StoreError",
    "StoreLockedError",
    "StoreUnavailableError",
    "TurnFailedError",
    "UnauthenticatedError",
    "WorkflowGraphError",
    "error_from_code",
]


class NetworkError(Exception):
    """Base class of every error the network raises on purpose."""

    default_code = "error"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code


class NotFoundError(NetworkError):
    """An agent, session, task or adapter that the caller named does not exist."""

    default_code = "not_found"


class AccessDeniedError(NetworkError):
    """A rule, arbiter or participant check refused the operation."""

    default_code = "access_denied"


class AuthError(NetworkError):
    """A credential was rejected or its scheme is unknown."""

    default_code = "auth_failed"


class UnauthenticatedError(AuthError):
    """A connection's credential is missing, malformed, expired or not accepted; it was refused."""

    default_code = "unauthenticated"


class NameTakenError(NetworkError):
    """The name is held by a live connection or belongs to another owner."""

    default_code = "name_taken"


class InvalidValueError(NetworkError, ValueError):
    """A field of an identity record, a duration or a call argument is not acceptable.

    The message names the field (``Rule.limits.inbox.max_pending``) and the value.
    """

    default_code = "invalid_value"


class ProtocolError(NetworkError):
    """The request breaks the session protocol (shape, turn, state, handshake)."""

    default_code = "protocol_error"


class SessionCorruptError(ProtocolError):
    """The session's WAL does not replay; it is quarantined (readable, refuses posts)."""

    default_code = "session_corrupt"


class InboxFull(NetworkError):
    """A recipient's inbox is at capacity; the envelope was not admitted."""

    default_code = "inbox_full"


class WorkflowGraphError(NetworkError):
    """A workflow graph cannot be built or deserialised."""

    default_code = "bad_graph"


class StoreError(NetworkError):
    """The knowledge store failed or refused an operation the hub needed."""

    default_code = "store_error"


class StoreUnavailableError(StoreError):
    """The store could not do an operation (disk full, server down, connection lost).

    Nothing of the operation took effect in the hub: a failed append used no
    sequence number and was neither folded nor delivered. Retry once the store
    is back.

    Attributes:
        store: a short description of the store (``"sqlite:/var/hub.db"``).
        reason: what failed, as the store's driver said it.
    """

    default_code = "store_unavailable"

    def __init__(
        self, message: str = "", *, store: str = "", reason: str = "", code: str | None = None
    ) -> None:
        if not message:
            message = f"store {store or '?'} is unavailable: {reason or 'unknown error'}"
        super().__init__(message, code=code)
        self.store = store
        self.reason = reason


class StoreLockedError(StoreError):
    """Another hub holds the store's writer lock, or the store holds another application's data."""

    default_code = "store_locked"


class ReplayError(NetworkError):
    """A WAL does not replay: out-of-order sequence, wrong session, or undecodable line."""

    default_code = "replay_diverged"


class TurnFailedError(NetworkError):
    """A participant's turn failed; carried by the failure envelope it posted."""

    default_code = "turn_failed"


class SessionTimeoutError(NetworkError, TimeoutError):
    """A wait (for a session event, an ack, a reply) ran out of time."""

    default_code = "timeout"


#: Every code the hub and its clients emit, and what it means.
CODES: dict[str, str] = {
    "error": "unclassified network error",
    "not_found": "unknown agent, session, task or adapter",
    "access_denied": "a rule or participant check refused the operation",
    "delegation_too_deep": "the envelope's depth is over the sender's Rule.limits.delegation_depth",
    "auth_failed": "the credential was rejected",
    "unauthenticated": "the connection's credential is missing, malformed, expired or not accepted",
    "name_taken": "the name is held by a live connection or another owner",
    "invalid_value": "an identity-record field, duration or argument is not acceptable",
    "protocol_error": "the request breaks the session protocol (turn, state, handshake)",
    "bad_envelope": "an envelope field has the wrong type or value (the message names it)",
    "payload_too_large": "what a post or create would store is over the byte limit",
    "session_closed": "the session is closed or expired",
    "not_active": "the session is not active yet (or any more)",
    "not_your_turn": "the adapter does not let this sender speak now",
    "reserved_event": "the event type is written by the hub only",
    "unknown_event": "an ag2.session.* / ag2.task.* type no adapter declares",
    "session_corrupt": "the session's WAL does not replay; it is quarantined",
    "inbox_full": "a recipient has too many unhandled envelopes",
    "bad_graph": "a workflow graph is invalid",
    "store_error": "the knowledge store refused the operation",
    "store_unavailable": "the knowledge store failed (disk full, server down); nothing was applied",
    "store_locked": "another hub holds the store's writer lock (the message names the holder)",
    "foreign_store": "the store holds another application's data; the hub will not write into it",
    "replay_diverged": "a WAL does not replay",
    "turn_failed": "a participant's turn failed",
    "timeout": "a wait ran out of time",
    "bad_frame": "a frame does not decode, or has a field of the wrong type (the message names it)",
    "frame_too_large": "a frame is over the connection's byte limit",
    "unknown_op": "a request names an operation the hub does not offer",
    "hello_required": "the first frame of a connection must be hello",
    "agent_offline": "an invited agent has no live connection",
    "rate_limited": "the sender is over its Rule.limits.rate",
    "slow_consumer": "the client did not read its frames in time; the hub disconnected it",
    "hub_shutdown": "the hub is shutting down",
    "connection_lost": "the link to the hub closed before the answer came",
}

_BY_CODE: dict[str, type[NetworkError]] = {
    "not_found": NotFoundError,
    "access_denied": AccessDeniedError,
    "delegation_too_deep": AccessDeniedError,
    "auth_failed": AuthError,
    "unauthenticated": UnauthenticatedError,
    "name_taken": NameTakenError,
    "invalid_value": InvalidValueError,
    "protocol_error": ProtocolError,
    "session_corrupt": SessionCorruptError,
    "inbox_full": InboxFull,
    "bad_graph": WorkflowGraphError,
    "store_error": StoreError,
    "store_unavailable": StoreUnavailableError,
    "store_locked": StoreLockedError,
    "replay_diverged": ReplayError,
    "turn_failed": TurnFailedError,
    "timeout": SessionTimeoutError,
}

_PROTOCOL_CODES = frozenset(
    {
        "payload_too_large",
        "bad_frame",
        "bad_envelope",
        "session_closed",
        "not_active",
        "not_your_turn",
        "reserved_event",
        "unknown_event",
        "frame_too_large",
        "unknown_op",
        "hello_required",
        "agent_offline",
        "rate_limited",
        "slow_consumer",
        "hub_shutdown",
        "connection_lost",
    }
)


def error_from_code(code: str, message: str) -> NetworkError:
    """Rebuild the error a remote hub reported, keeping its code.

    Unknown codes map to ``ProtocolError`` when they are specialisations the hub
    documents (``payload_too_large``, ``bad_frame``, ...) and to ``NetworkError``
    otherwise.
    """
    cls = _BY_CODE.get(code)
    if cls is None:
        cls = ProtocolError if code in _PROTOCOL_CODES else NetworkError
    return cls(message, code=code)
