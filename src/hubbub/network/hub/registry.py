"""The agent registry: identity records, name and capability indexes, persisted in the store."""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Any

import orjson

from hubbub.knowledge import KnowledgeStore
from hubbub.network.auth import AuthRegistry
from hubbub.network.clock import Clock
from hubbub.network.errors import NotFoundError, ProtocolError
from hubbub.network.hub import layout
from hubbub.network.hub.audit import (
    AUDIT_KIND_AGENT_REGISTERED,
    AUDIT_KIND_AGENT_UNREGISTERED,
    AUDIT_KIND_RESUME_SET,
    AUDIT_KIND_RULE_SET,
    AUDIT_KIND_SKILL_SET,
    RESUME_SOURCE_TENANT,
    AuditLog,
)
from hubbub.network.identity import Passport, Resume
from hubbub.network.ids import make_id
from hubbub.network.rule import Rule

__all__ = ["Registry", "glob_match"]


def _dumps(value: dict[str, Any]) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def glob_match(name: str, patterns: list[str]) -> bool:
    """Return True if ``name`` matches any fnmatch pattern."""
    if "*" in patterns:  # the default rule: one C-level scan, no pattern matching
        return True
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


class Registry:
    """Registered agents, their resumes, rules and skills; the hub's identity authority."""

    def __init__(
        self, store: KnowledgeStore, clock: Clock, audit: AuditLog, auth: AuthRegistry
    ) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit
        self._auth = auth
        self.passports: dict[str, Passport] = {}
        self.resumes: dict[str, Resume] = {}
        self.rules: dict[str, Rule] = {}
        self.by_name: dict[str, str] = {}
        self.by_capability: dict[str, set[str]] = {}

    # ------------------------------------------------------------------ loading

    async def load(self) -> None:
        """Rebuild every cache from the store."""
        self.passports.clear()
        self.resumes.clear()
        self.rules.clear()
        self.by_name.clear()
        self.by_capability.clear()
        for entry in await self._store.list(layout.AGENTS_DIR):
            agent_id = entry.rstrip("/")
            raw = await self._store.read(layout.passport_path(agent_id))
            if raw is None:
                continue
            passport = Passport.from_dict(orjson.loads(raw))
            raw_resume = await self._store.read(layout.resume_path(agent_id))
            raw_rule = await self._store.read(layout.rule_path(agent_id))
            resume = Resume.from_dict(orjson.loads(raw_resume)) if raw_resume else Resume()
            rule = Rule.from_dict(orjson.loads(raw_rule)) if raw_rule else Rule()
            self._insert(passport, resume, rule)

    def _insert(self, passport: Passport, resume: Resume, rule: Rule) -> None:
        agent_id = passport.agent_id
        assert agent_id is not None
        self.passports[agent_id] = passport
        self.resumes[agent_id] = resume
        self.rules[agent_id] = rule
        self.by_name[passport.name] = agent_id
        self._index_capabilities(agent_id, set(), resume.capabilities())

    def _index_capabilities(self, agent_id: str, old: set[str], new: set[str]) -> None:
        for cap in old - new:
            bucket = self.by_capability.get(cap)
            if bucket is not None:
                bucket.discard(agent_id)
                if not bucket:
                    del self.by_capability[cap]
        for cap in new - old:
            self.by_capability.setdefault(cap, set()).add(agent_id)

    # ------------------------------------------------------------------ mutations

    async def register(
        self,
        passport: Passport,
        resume: Resume,
        *,
        skill_md: str | None = None,
        rule: Rule | None = None,
    ) -> Passport:
        """Validate the passport's credential, stamp an agent_id, persist, audit; ProtocolError on a taken name."""
        if not isinstance(passport, Passport):
            raise ProtocolError(f"register needs a Passport, got {type(passport).__name__}")
        adapter = self._auth.get(passport.auth.scheme)
        await adapter.validate(passport, passport.auth.claim)
        existing = self.by_name.get(passport.name)
        if existing is not None:
            raise ProtocolError(f"name {passport.name!r} already registered (agent_id {existing})")
        stamped = dataclasses.replace(passport, agent_id=make_id(), created_at=self._clock())
        # Claim the name before the first await so a concurrent duplicate fails.
        resume = resume if resume is not None else Resume()
        rule = rule if rule is not None else Rule()
        self._insert(stamped, resume, rule)
        agent_id = stamped.agent_id
        assert agent_id is not None
        await self._store.write(layout.passport_path(agent_id), _dumps(stamped.to_dict()))
        await self._store.write(layout.resume_path(agent_id), _dumps(resume.to_dict()))
        await self._store.write(layout.rule_path(agent_id), _dumps(rule.to_dict()))
        if skill_md is not None:
            await self._store.write(layout.skill_path(agent_id), skill_md)
        await self._audit.append(
            {
                "kind": AUDIT_KIND_AGENT_REGISTERED,
                "agent_id": agent_id,
                "name": stamped.name,
                "owner": stamped.owner,
            }
        )
        return stamped

    async def unregister(self, agent_id: str) -> Passport:
        """Forget an agent and delete its identity records (its sessions stay)."""
        passport = self.require(agent_id)
        del self.passports[agent_id]
        resume = self.resumes.pop(agent_id, Resume())
        self.rules.pop(agent_id, None)
        if self.by_name.get(passport.name) == agent_id:
            del self.by_name[passport.name]
        self._index_capabilities(agent_id, resume.capabilities(), set())
        await self._store.delete(layout.agent_dir(agent_id))
        await self._audit.append(
            {"kind": AUDIT_KIND_AGENT_UNREGISTERED, "agent_id": agent_id, "name": passport.name}
        )
        return passport

    async def set_resume(self, agent_id: str, resume: Resume) -> Resume:
        """Replace the resume (version bumped, last_updated stamped), re-index, audit."""
        old = self.require_resume(agent_id)
        new = dataclasses.replace(resume, version=old.version + 1, last_updated=self._clock())
        self.resumes[agent_id] = new
        self._index_capabilities(agent_id, old.capabilities(), new.capabilities())
        await self._store.write(layout.resume_path(agent_id), _dumps(new.to_dict()))
        await self._audit.append(
            {
                "kind": AUDIT_KIND_RESUME_SET,
                "agent_id": agent_id,
                "version": new.version,
                "source": RESUME_SOURCE_TENANT,
            }
        )
        return new

    async def set_skill(self, agent_id: str, skill_md: str | None) -> None:
        """Store (or with None delete) the agent's SKILL.md, audit."""
        self.require(agent_id)
        if skill_md is None:
            await self._store.delete(layout.skill_path(agent_id))
        else:
            await self._store.write(layout.skill_path(agent_id), skill_md)
        await self._audit.append(
            {"kind": AUDIT_KIND_SKILL_SET, "agent_id": agent_id, "removed": skill_md is None}
        )

    async def set_rule(self, agent_id: str, rule: Rule) -> Rule:
        """Replace the rule (version bumped), audit."""
        old = self.rules.get(agent_id)
        if old is None:
            raise NotFoundError(f"unknown agent {agent_id!r}")
        new = Rule.from_dict({**rule.to_dict(), "version": old.version + 1})
        self.rules[agent_id] = new
        await self._store.write(layout.rule_path(agent_id), _dumps(new.to_dict()))
        await self._audit.append(
            {"kind": AUDIT_KIND_RULE_SET, "agent_id": agent_id, "version": new.version}
        )
        return new

    # ------------------------------------------------------------------ queries

    def require(self, agent_id: str) -> Passport:
        """The passport of a registered agent; NotFoundError otherwise."""
        passport = self.passports.get(agent_id)
        if passport is None:
            raise NotFoundError(f"unknown agent {agent_id!r}")
        return passport

    def require_resume(self, agent_id: str) -> Resume:
        """The resume of a registered agent; NotFoundError otherwise."""
        self.require(agent_id)
        return self.resumes[agent_id]

    def resolve(self, name_or_id: str) -> Passport:
        """Look up by name first, then by id; NotFoundError if neither matches."""
        agent_id = self.by_name.get(name_or_id)
        if agent_id is None and name_or_id in self.passports:
            agent_id = name_or_id
        if agent_id is None:
            raise NotFoundError(f"no agent named or with id {name_or_id!r}")
        return self.passports[agent_id]

    async def get_skill(self, agent_id: str) -> str | None:
        """The agent's SKILL.md, or None."""
        self.require(agent_id)
        return await self._store.read(layout.skill_path(agent_id))

    def list_agents(
        self,
        *,
        capability: str | None = None,
        query: str | None = None,
        kind: str | None = None,
        sort_by: str | None = None,
        limit: int = 50,
    ) -> list[Passport]:
        """Filter by capability (claimed or observed), summary substring, kind; sort, then limit."""
        if capability is not None:
            ids = sorted(self.by_capability.get(capability, ()))
        else:
            ids = list(self.passports)
        needle = query.lower() if query else None
        out = []
        for agent_id in ids:
            p = self.passports[agent_id]
            if kind is not None and p.effective_kind != kind:
                continue
            if needle is not None:
                r = self.resumes.get(agent_id, Resume())
                hay = " ".join([p.name, r.summary, *r.claimed_capabilities, *r.domains]).lower()
                if needle not in hay:
                    continue
            out.append(p)
        if sort_by == "name":
            out.sort(key=lambda p: p.name)
        return out[: max(0, limit)]
