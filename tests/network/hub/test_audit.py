"""Audit records for identity changes and sessions; the audit log rolls into segments."""

from __future__ import annotations

from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import AuditLog, Hub, LimitsBlock, MockClock, Passport, Resume, Rule


async def test_identity_changes_are_audited(hub: Hub) -> None:
    p = await hub.register(Passport(name="alice", owner="acme"), Resume(summary="asks"))
    assert p.agent_id
    resume = await hub.set_resume(p.agent_id, Resume(claimed_capabilities=["research"]))
    assert resume.version == 2
    assert hub.agents_with_capability("research") == [p.agent_id]
    await hub.set_skill(p.agent_id, "---\nname: alice\n---\nbody")
    assert await hub.get_skill(p.agent_id) == "---\nname: alice\n---\nbody"
    rule = await hub.set_rule(p.agent_id, Rule(limits=LimitsBlock(delegation_depth=1)))
    assert rule.version == 2
    await hub.unregister(p.agent_id)
    kinds = [r["kind"] for r in await hub.audit_log.read_all()]
    assert kinds == [
        "agent_registered",
        "resume_set",
        "skill_set",
        "rule_set",
        "agent_unregistered",
    ]
    registered = (await hub.audit_log.read_all())[0]
    assert registered["owner"] == "acme" and registered["name"] == "alice" and registered["at"]


async def test_audit_log_round_trip_and_segments() -> None:
    store = MemoryKnowledgeStore()
    log = AuditLog(store, clock=MockClock(), segment_records=3)
    await log.open()
    for i in range(7):
        await log.append({"kind": "custom", "n": i})
    records = await log.read_all()
    assert [r["n"] for r in records] == list(range(7))
    assert all(r["at"] == "2026-01-01T00:00:00+00:00" for r in records)
    assert len(await log.segments()) == 3
    reopened = AuditLog(store, segment_records=3)
    await reopened.open()
    await reopened.append({"kind": "custom", "n": 7})
    assert [r["n"] for r in await reopened.read_all()] == list(range(8))
    assert len(await reopened.segments()) == 3
