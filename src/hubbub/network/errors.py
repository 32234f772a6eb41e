"""The one error tree of the network layer.

Every error carries a stable ``code`` that travels unchanged over the wire
(``ErrorFrame.code``), so remote callers can branch on it::

    NetworkError                 code "error"
    ├── NotFoundError            code "not_found"        unknown agent / session / task / adapter
    ├── AccessDeniedError        code "access_denied"    rule or authorization denial
    ├── AuthError                code "auth_failed"      credential rejected, unknown scheme
    ├── ProtocolError            code "protocol_error"   bad envelope, out-of-turn send, closed
    │                                                    session, handshake failure, bad graph
    ├── InboxFull                code "inbox_full"       recipient at capacity
    └── WorkflowGraphError       code "bad_graph"        transition registry miss / bad graph data

A subclass instance may carry a more specific code (``ProtocolError(...,
code="payload_too_large")``); the class stays the same so ``except`` clauses
keep working.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AuthError",
    "InboxFull",
    "NetworkError",
    "NotFoundError",
    "ProtocolError",
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


class ProtocolError(NetworkError):
    """The request breaks the session protocol (shape, turn, state, handshake)."""

    default_code = "protocol_error"


class InboxFull(NetworkError):
    """A recipient's inbox is at capacity; the envelope was not admitted."""

    default_code = "inbox_full"


class WorkflowGraphError(NetworkError):
    """A workflow graph cannot be built or deserialised."""

    default_code = "bad_graph"


_BY_CODE: dict[str, type[NetworkError]] = {
    "not_found": NotFoundError,
    "access_denied": AccessDeniedError,
    "auth_failed": AuthError,
    "protocol_error": ProtocolError,
    "inbox_full": InboxFull,
    "bad_graph": WorkflowGraphError,
}


def error_from_code(code: str, message: str) -> NetworkError:
    """Rebuild the error a remote hub reported, keeping its code.

    Unknown codes map to ``ProtocolError`` when they are specialisations the hub
    documents (``payload_too_large``, ``bad_frame``, ...) and to ``NetworkError``
    otherwise.
    """
    cls = _BY_CODE.get(code)
    if cls is None:
        cls = (
            ProtocolError
            if code in {"payload_too_large", "bad_frame", "bad_envelope"}
            else NetworkError
        )
    return cls(message, code=code)
