"""Where the hub keeps things in its KnowledgeStore (stable: hydrate depends on it).

| path                                   | content                                         |
|----------------------------------------|-------------------------------------------------|
| /agents/{agent_id}/passport.json       | Passport                                        |
| /agents/{agent_id}/resume.json         | Resume                                          |
| /agents/{agent_id}/rule.json           | Rule                                            |
| /agents/{agent_id}/SKILL.md            | skill markdown (optional)                       |
| /sessions/{session_id}/metadata.json   | the creation record (written once, never again)|
| /manifests/{sha256 prefix}.json        | session manifests, stored once per content    |
| /sessions/{session_id}/wal.jsonl       | one envelope JSON per line, admission order     |
| /sessions/{session_id}/snapshot.json   | adapter state at a durable WAL position         |
| /index/sessions.log                    | "+sid" at create, "-sid" once closed            |
| /audit/audit-{n:08d}.jsonl             | audit records, in segments of bounded size      |

A session's lifecycle state is not in metadata.json: it is the fold of the
lifecycle envelopes in its WAL, so the two can never disagree after a crash.
"""

from __future__ import annotations

__all__ = [
    "AGENTS_DIR",
    "AUDIT_DIR",
    "SESSIONS_DIR",
    "agent_dir",
    "MANIFESTS_DIR",
    "audit_segment",
    "manifest_path",
    "passport_path",
    "resume_path",
    "rule_path",
    "session_dir",
    "session_meta_path",
    "skill_path",
    "snapshot_path",
    "wal_path",
]

AGENTS_DIR = "/agents"
SESSIONS_DIR = "/sessions"
AUDIT_DIR = "/audit"
MANIFESTS_DIR = "/manifests"


def agent_dir(agent_id: str) -> str:
    """Folder of one agent's identity records."""
    return f"{AGENTS_DIR}/{agent_id}"


def passport_path(agent_id: str) -> str:
    """Path of an agent's Passport JSON."""
    return f"{AGENTS_DIR}/{agent_id}/passport.json"


def resume_path(agent_id: str) -> str:
    """Path of an agent's Resume JSON."""
    return f"{AGENTS_DIR}/{agent_id}/resume.json"


def rule_path(agent_id: str) -> str:
    """Path of an agent's Rule JSON."""
    return f"{AGENTS_DIR}/{agent_id}/rule.json"


def skill_path(agent_id: str) -> str:
    """Path of an agent's SKILL.md."""
    return f"{AGENTS_DIR}/{agent_id}/SKILL.md"


def session_dir(session_id: str) -> str:
    """Folder of one session."""
    return f"{SESSIONS_DIR}/{session_id}"


def snapshot_path(session_id: str) -> str:
    """Path of a session's latest snapshot (adapter state at a durable WAL position)."""
    return f"{SESSIONS_DIR}/{session_id}/snapshot.json"


def session_meta_path(session_id: str) -> str:
    """Path of a session's creation record."""
    return f"{SESSIONS_DIR}/{session_id}/metadata.json"


def wal_path(session_id: str) -> str:
    """Path of a session's write-ahead log."""
    return f"{SESSIONS_DIR}/{session_id}/wal.jsonl"


def manifest_path(ref: str) -> str:
    """Path of a session manifest snapshot, stored once per distinct content."""
    return f"{MANIFESTS_DIR}/{ref}.json"


def audit_segment(index: int) -> str:
    """Path of audit segment ``index`` (1-based)."""
    return f"{AUDIT_DIR}/audit-{index:08d}.jsonl"
