"""The agent registry: identity records, name and capability indexes, persisted in the store.

Names and ids are separate namespaces. Ids are hub-assigned (:func:`make_id`:
random, unguessable); a name that has the form of an id, or equals a registered
agent's id, is refused, and :meth:`Registry.resolve` looks an id up as an id
before it ever considers names.

A name belongs to the principal that registered it (:data:`OPERATOR` in-process;
over a wire, the credential's subject). Registering a name again (see
:meth:`Registry.register_agent`):

* by its owner, while no live connection holds it (after a restart, or after the
  holder disconnected): the **same agent id** comes back; what was passed replaces
  what is stored where it differs, with the record's version bumped;
* by its owner while a live connection holds it, by another principal, or while
  another registration of it is in flight: ``NameTakenError`` (code ``name_taken``).

Registration is atomic: the name is claimed in memory before the first store
write (a concurrent duplicate is refused), the records are written (the passport
last: it is the commit point ``load`` looks for), audited, and only then does the
agent appear in the indexes. If anything fails, the claim is released, what was
written is removed (or, for a re-registration, put back) as far as the store
allows, and the caller gets ``StoreUnavailableError``: no ghost name, and a retry
succeeds once the store works.

Stored layout per agent (``layout.agent_dir``): ``passport.json`` (the passport
plus the owning ``principal``), ``resume.json``, ``rule.json``, optional ``SKILL.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import orjson

from hubbub.knowledge import KnowledgeStore
from hubbub.knowledge.base import read_many, store_failure
from hubbub.network.auth import AuthRegistry
from hubbub.network.clock import Clock
from hubbub.network.errors import (
    InvalidValueError,
    NameTakenError,
    NotFoundError,
)
from hubbub.network.hub import layout
from hubbub.network.hub.arbiter import Deny, glob_match
from hubbub.network.hub.audit import (
    AUDIT_KIND_AGENT_REGISTERED,
    AUDIT_KIND_AGENT_UNREGISTERED,
    AUDIT_KIND_RESUME_SET,
    AUDIT_KIND_RULE_SET,
    AUDIT_KIND_SKILL_SET,
    RESUME_SOURCE_OBSERVED,
    RESUME_SOURCE_TENANT,
)
from hubbub.network.identity import ObservedStat, Passport, Resume
from hubbub.network.ids import looks_like_id, make_id
from hubbub.network.rule import Rule

if TYPE_CHECKING:
    from hubbub.network.hub.seam import HubSeam

__all__ = ["OPERATOR", "Registration", "Registry", "glob_match"]

log = logging.getLogger(__name__)

#: The principal of everything registered in-process (the hub's operator).
OPERATOR = "operator"

#: The key of the owning principal in a stored ``passport.json`` (not a Passport field).
_PRINCIPAL_KEY = "principal"

#: Audit kind of an agent record change → the ``on_agent_event`` kind.
_AGENT_EVENTS = {
    AUDIT_KIND_AGENT_REGISTERED: "registered",
    AUDIT_KIND_AGENT_UNREGISTERED: "unregistered",
    AUDIT_KIND_RESUME_SET: "resume_set",
    AUDIT_KIND_SKILL_SET: "skill_set",
    AUDIT_KIND_RULE_SET: "rule_set",
}


def _dumps(value: dict[str, Any]) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _type_name(value: object) -> str:
    return type(value).__name__


def _tenant_part(resume: Resume) -> dict[str, Any]:
    """The part of a resume its agent writes (the rest is the hub's record)."""
    data = resume.to_dict()
    return {k: data[k] for k in ("claimed_capabilities", "domains", "summary", "examples")}


def _rule_body(rule: Rule) -> dict[str, Any]:
    data = rule.to_dict()
    data.pop("version", None)
    return data


def _passport_body(passport: Passport) -> dict[str, Any]:
    data = passport.to_dict()
    for key in ("agent_id", "created_at", "version"):
        data.pop(key, None)
    return data


@dataclass(frozen=True, slots=True)
class Registration:
    """What a registration produced.

    The records are copies of the stored ones.

    Attributes:
        passport: the stored passport, stamped with ``agent_id`` and ``created_at``.
        resume: the stored resume (after a re-registration: the effective one).
        rule: the stored rule.
        existing: True when the name's existing agent id was returned (a
            re-registration by its owner), False for a new agent.
    """

    passport: Passport
    resume: Resume
    rule: Rule
    existing: bool


class Registry:
    """Registered agents, their resumes, rules and skills; the hub's identity authority.

    Args:
        store: where the identity records live.
        clock: time source for ``created_at`` / ``last_updated``.
        seam: the arbiter (``authorize_register``), the audit sink where registrations
            and changes are recorded, and the listeners that hear of them.
        auth: the credential schemes registration validates against.
        live: ``live(agent_id)`` is True while a live connection holds the agent
            (the hub passes "is bound to an attached endpoint"); None: never.
    """

    def __init__(
        self,
        store: KnowledgeStore,
        clock: Clock,
        seam: HubSeam,
        auth: AuthRegistry,
        *,
        live: Callable[[str], bool] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._seam = seam
        self._auth = auth
        self.live = live
        self.passports: dict[str, Passport] = {}
        self.resumes: dict[str, Resume] = {}
        self.rules: dict[str, Rule] = {}
        self.principals: dict[str, str] = {}
        self.by_name: dict[str, str] = {}
        self.by_capability: dict[str, set[str]] = {}
        self._claims: set[str] = set()  # names with a registration in flight

    # ------------------------------------------------------------------ loading

    async def load(self) -> None:
        """Rebuild every cache from the store (one bulk read of every agent's records).

        A directory without ``passport.json`` is an interrupted registration and is
        skipped; so, with a warning, is an agent whose records do not decode (its
        sessions stay in the store). Records written before principals were stored
        belong to :data:`OPERATOR`.
        """
        self.passports.clear()
        self.resumes.clear()
        self.rules.clear()
        self.principals.clear()
        self.by_name.clear()
        self.by_capability.clear()
        ids = [entry.rstrip("/") for entry in await self._store.list(layout.AGENTS_DIR)]
        paths: list[str] = []
        for agent_id in ids:
            paths += (
                layout.passport_path(agent_id),
                layout.resume_path(agent_id),
                layout.rule_path(agent_id),
            )
        raws = await read_many(self._store, paths)
        # Most agents store the same resume and rule text (the defaults, a team's
        # policy): each distinct text is decoded and checked once and the record
        # shared. The registry never changes a record in place (setters replace it).
        resumes: dict[str | None, Resume] = {}
        rules: dict[str | None, Rule] = {}
        for i, agent_id in enumerate(ids):
            raw_passport, raw_resume, raw_rule = raws[3 * i : 3 * i + 3]
            if raw_passport is None:
                continue
            try:
                data = orjson.loads(raw_passport)
                if not isinstance(data, dict):
                    raise InvalidValueError("passport.json is not an object")
                principal = data.pop(_PRINCIPAL_KEY, OPERATOR)
                passport = Passport.from_dict(data)
                resume = resumes.get(raw_resume)
                if resume is None:
                    resume = Resume.from_dict(orjson.loads(raw_resume)) if raw_resume else Resume()
                    resumes[raw_resume] = resume
                rule = rules.get(raw_rule)
                if rule is None:
                    rule = Rule.from_dict(orjson.loads(raw_rule)) if raw_rule else Rule()
                    rules[raw_rule] = rule
            except (ValueError, TypeError, KeyError) as exc:
                log.warning("agent %s: identity records do not decode, skipped: %s", agent_id, exc)
                continue
            if passport.agent_id != agent_id or not isinstance(principal, str):
                log.warning("agent %s: passport.json names another agent, skipped", agent_id)
                continue
            held = self.by_name.get(passport.name)
            if held is not None:
                # Two records for one name (a registration whose failure could not be
                # undone): the earlier one is the agent, the other is left alone.
                first = self.passports[held]
                if (first.created_at, held) <= (passport.created_at, agent_id):
                    log.warning(
                        "agent %s: name %r already loaded, skipped", agent_id, passport.name
                    )
                    continue
                log.warning("agent %s: name %r already loaded, skipped", held, passport.name)
                self._remove(first)
            self._insert(passport, resume, rule, principal)

    def _insert(self, passport: Passport, resume: Resume, rule: Rule, principal: str) -> None:
        agent_id = passport.agent_id
        assert agent_id is not None
        old = self.resumes.get(agent_id)
        self.passports[agent_id] = passport
        self.resumes[agent_id] = resume
        self.rules[agent_id] = rule
        self.principals[agent_id] = principal
        self.by_name[passport.name] = agent_id
        self._index_capabilities(
            agent_id, old.capabilities() if old is not None else set(), resume.capabilities()
        )

    def _remove(self, passport: Passport) -> None:
        agent_id = passport.agent_id
        assert agent_id is not None
        del self.passports[agent_id]
        resume = self.resumes.pop(agent_id, Resume())
        self.rules.pop(agent_id, None)
        self.principals.pop(agent_id, None)
        if self.by_name.get(passport.name) == agent_id:
            del self.by_name[passport.name]
        self._index_capabilities(agent_id, resume.capabilities(), set())

    def _index_capabilities(self, agent_id: str, old: set[str], new: set[str]) -> None:
        for cap in old - new:
            bucket = self.by_capability.get(cap)
            if bucket is not None:
                bucket.discard(agent_id)
                if not bucket:
                    del self.by_capability[cap]
        for cap in new - old:
            self.by_capability.setdefault(cap, set()).add(agent_id)

    # ------------------------------------------------------------------ registration

    async def register(
        self,
        passport: Passport,
        resume: Resume | None = None,
        *,
        skill_md: str | None = None,
        rule: Rule | None = None,
        principal: str = OPERATOR,
    ) -> Passport:
        """:meth:`register_agent`, returning only the stamped passport."""
        registration = await self.register_agent(
            passport, resume, skill_md=skill_md, rule=rule, principal=principal
        )
        return registration.passport

    async def register_agent(
        self,
        passport: Passport,
        resume: Resume | None = None,
        *,
        skill_md: str | None = None,
        rule: Rule | None = None,
        principal: str = OPERATOR,
    ) -> Registration:
        """Register ``passport.name`` for ``principal``, or take it back (see the module doc).

        A new name gets a fresh agent id; ``resume``/``rule`` default to empty ones.
        The name's owner registering it again while no live connection holds it gets
        the same agent id back, and:

        * passport fields (all but ``agent_id``/``created_at``/``version``) that
          differ replace the stored ones, ``Passport.version`` bumped;
        * a ``resume`` whose agent-written part (claimed capabilities, domains,
          summary, examples) differs replaces it, keeping the hub's ``observed``
          record, ``Resume.version`` bumped and ``last_updated`` stamped;
        * a ``rule`` that differs (version aside) replaces it, ``Rule.version`` bumped;
        * a ``skill_md`` that differs replaces it;
        * ``None`` for ``resume``, ``rule`` or ``skill_md`` keeps what is stored.

        The records are copied: changing the arguments afterwards changes nothing.

        Raises:
            InvalidValueError: an argument of the wrong type, or a ``Passport.name``
                that has the form of an agent id or equals one.
            AuthError: the credential is refused.
            NameTakenError: the name is held by a live connection, belongs to
                another principal, or is being registered right now.
            StoreUnavailableError: a store write failed; nothing was registered.
        """
        _check_register_args(passport, resume, rule, skill_md, principal)
        # Records are mutable: check (and copy) what they hold now, not what they held
        # when they were built, and make sure every one of them can be stored.
        passport = _copy_record(Passport, passport, "passport")
        resume = _copy_record(Resume, resume, "resume") if resume is not None else None
        rule = _copy_record(Rule, rule, "rule") if rule is not None else None
        name = passport.name
        if looks_like_id(name) or name in self.passports:
            raise InvalidValueError(
                f"Passport.name {name!r} has the form of an agent id; names and ids are "
                "separate namespaces, choose another name"
            )
        adapter = self._auth.get(passport.auth.scheme)
        await adapter.validate(passport, passport.auth.claim)
        # From here to the claim there is no await: a concurrent duplicate sees the claim.
        if name in self._claims:
            raise NameTakenError(f"name {name!r} is being registered by another call")
        existing = self.by_name.get(name)
        if existing is not None:
            if self.principals.get(existing, OPERATOR) != principal:
                raise NameTakenError(f"name {name!r} belongs to another owner")
            live = self.live
            if live is not None and live(existing):
                raise NameTakenError(f"name {name!r} is held by a live connection")
        governing = rule if rule is not None else (self.rules.get(existing or "") or Rule())
        verdict = self._seam.arbiter.authorize_register(passport, governing, principal)
        if isinstance(verdict, Deny):
            raise verdict.exception()
        self._claims.add(name)
        try:
            if existing is None:
                return await self._create(passport, resume, rule, skill_md, principal)
            return await self._retake(existing, passport, resume, rule, skill_md)
        finally:
            self._claims.discard(name)

    async def _create(
        self,
        passport: Passport,
        resume: Resume | None,
        rule: Rule | None,
        skill_md: str | None,
        principal: str,
    ) -> Registration:
        agent_id = make_id()
        stamped = Passport.from_dict(
            {**passport.to_dict(), "agent_id": agent_id, "created_at": self._clock()}
        )
        new_resume = resume if resume is not None else Resume()
        new_rule = rule if rule is not None else Rule()
        resume_text = _dumps(new_resume.to_dict())
        rule_text = _dumps(new_rule.to_dict())
        passport_text = self._passport_record(stamped, principal)
        store = self._store
        try:
            await store.write(layout.resume_path(agent_id), resume_text)
            await store.write(layout.rule_path(agent_id), rule_text)
            if skill_md is not None:
                await store.write(layout.skill_path(agent_id), skill_md)
            await store.write(layout.passport_path(agent_id), passport_text)
            record: dict[str, Any] = {
                "kind": AUDIT_KIND_AGENT_REGISTERED,
                "agent_id": agent_id,
                "name": stamped.name,
                "owner": stamped.owner,
                "principal": principal,
            }
            await self._seam.audit.append(record)
        except BaseException as exc:
            await self._undo(lambda: store.delete(layout.agent_dir(agent_id)), agent_id)
            if isinstance(exc, Exception):
                raise store_failure(store, exc) from exc
            raise
        self._insert(stamped, new_resume, new_rule, principal)
        self._tell(record)
        log.info("agent %r registered as %s", stamped.name, agent_id)
        return _handed_out(stamped, new_resume, new_rule, existing=False)

    async def _retake(
        self,
        agent_id: str,
        passport: Passport,
        resume: Resume | None,
        rule: Rule | None,
        skill_md: str | None,
    ) -> Registration:
        old_passport = self.passports[agent_id]
        old_resume = self.resumes[agent_id]
        old_rule = self.rules[agent_id]
        principal = self.principals.get(agent_id, OPERATOR)
        now = self._clock()
        store = self._store
        # (path, new text, old text or None) for every record that changes
        writes: list[tuple[str, str, str | None]] = []
        new_passport = old_passport
        if _passport_body(passport) != _passport_body(old_passport):
            new_passport = Passport.from_dict(
                {
                    **passport.to_dict(),
                    "agent_id": agent_id,
                    "created_at": old_passport.created_at,
                    "version": old_passport.version + 1,
                }
            )
        new_resume = old_resume
        if resume is not None and _tenant_part(resume) != _tenant_part(old_resume):
            new_resume = Resume.from_dict(
                {
                    **_tenant_part(resume),
                    "observed": old_resume.to_dict()["observed"],
                    "version": old_resume.version + 1,
                    "last_updated": now,
                }
            )
            writes.append(
                (
                    layout.resume_path(agent_id),
                    _dumps(new_resume.to_dict()),
                    _dumps(old_resume.to_dict()),
                )
            )
        new_rule = old_rule
        if rule is not None and _rule_body(rule) != _rule_body(old_rule):
            new_rule = Rule.from_dict({**_rule_body(rule), "version": old_rule.version + 1})
            writes.append(
                (layout.rule_path(agent_id), _dumps(new_rule.to_dict()), _dumps(old_rule.to_dict()))
            )
        if skill_md is not None:
            old_skill = await self._read_skill(agent_id)
            if skill_md != old_skill:
                writes.append((layout.skill_path(agent_id), skill_md, old_skill))
        if new_passport is not old_passport:
            writes.append(
                (
                    layout.passport_path(agent_id),
                    self._passport_record(new_passport, principal),
                    self._passport_record(old_passport, principal),
                )
            )
        done: list[tuple[str, str, str | None]] = []
        try:
            for write in writes:
                await store.write(write[0], write[1])
                done.append(write)
            record: dict[str, Any] = {
                "kind": AUDIT_KIND_AGENT_REGISTERED,
                "agent_id": agent_id,
                "name": new_passport.name,
                "owner": new_passport.owner,
                "principal": principal,
                "reregistered": True,
                "changed": [path.rsplit("/", 1)[1] for path, _, _ in writes],
            }
            await self._seam.audit.append(record)
        except BaseException as exc:
            for path, _, old_text in reversed(done):
                await self._undo(_restore(store, path, old_text), agent_id)
            if isinstance(exc, Exception):
                raise store_failure(store, exc) from exc
            raise
        self._insert(new_passport, new_resume, new_rule, principal)
        self._tell(record)
        log.info("agent %r re-registered as %s", new_passport.name, agent_id)
        return _handed_out(new_passport, new_resume, new_rule, existing=True)

    def _passport_record(self, passport: Passport, principal: str) -> str:
        return _dumps({**passport.to_dict(), _PRINCIPAL_KEY: principal})

    async def _read_skill(self, agent_id: str) -> str | None:
        try:
            return await self._store.read(layout.skill_path(agent_id))
        except Exception as exc:
            raise store_failure(self._store, exc) from exc

    async def _undo(self, action: Callable[[], Any], agent_id: str) -> None:
        """Best effort at taking back a partial registration (the store may still be down)."""
        try:
            await action()
        except Exception:
            log.warning(
                "agent %s: could not undo a failed registration's writes", agent_id, exc_info=True
            )

    # ------------------------------------------------------------------ mutations

    async def unregister(self, agent_id: str) -> Passport:
        """Forget an agent and delete its identity records (its sessions stay).

        The records are deleted first: if that fails, the agent stays registered.
        """
        passport = self.require(agent_id)
        try:
            await self._store.delete(layout.agent_dir(agent_id))
        except Exception as exc:
            raise store_failure(self._store, exc) from exc
        if self.passports.get(agent_id) is passport:
            self._remove(passport)
        await self._audit_quietly(
            {"kind": AUDIT_KIND_AGENT_UNREGISTERED, "agent_id": agent_id, "name": passport.name}
        )
        return passport

    async def set_resume(self, agent_id: str, resume: Resume) -> Resume:
        """Replace the resume (version bumped, last_updated stamped), re-index, audit.

        Stored first, then applied: a failed write changes nothing.
        """
        if not isinstance(resume, Resume):
            raise InvalidValueError(f"resume must be a Resume, got {_type_name(resume)}")
        old = self.require_resume(agent_id)
        new = Resume.from_dict(
            {**resume.to_dict(), "version": old.version + 1, "last_updated": self._clock()}
        )
        try:
            await self._store.write(layout.resume_path(agent_id), _dumps(new.to_dict()))
        except Exception as exc:
            raise store_failure(self._store, exc) from exc
        if agent_id in self.passports:
            self.resumes[agent_id] = new
            self._index_capabilities(agent_id, old.capabilities(), new.capabilities())
        await self._audit_quietly(
            {
                "kind": AUDIT_KIND_RESUME_SET,
                "agent_id": agent_id,
                "version": new.version,
                "source": RESUME_SOURCE_TENANT,
            }
        )
        return new

    async def set_observed(
        self, agent_id: str, capability: str, stat: ObservedStat, *, audit: dict[str, Any]
    ) -> Resume:
        """Replace one capability's observed track record (version bumped), re-index,
        audit ``resume_set`` with source ``observed`` plus the ``audit`` fields.

        Stored first, then applied: a failed write changes nothing.
        """
        old = self.require_resume(agent_id)
        data = old.to_dict()
        data["observed"][capability] = asdict(stat)
        new = Resume.from_dict({**data, "version": old.version + 1, "last_updated": self._clock()})
        try:
            await self._store.write(layout.resume_path(agent_id), _dumps(new.to_dict()))
        except Exception as exc:
            raise store_failure(self._store, exc) from exc
        if agent_id in self.passports:
            self.resumes[agent_id] = new
            self._index_capabilities(agent_id, old.capabilities(), new.capabilities())
        await self._audit_quietly(
            {
                **audit,
                "kind": AUDIT_KIND_RESUME_SET,
                "agent_id": agent_id,
                "version": new.version,
                "source": RESUME_SOURCE_OBSERVED,
                "capability": capability,
            }
        )
        return new

    async def set_skill(self, agent_id: str, skill_md: str | None) -> None:
        """Store (or with None delete) the agent's SKILL.md, audit."""
        self.require(agent_id)
        _check_skill(skill_md)
        try:
            if skill_md is None:
                await self._store.delete(layout.skill_path(agent_id))
            else:
                await self._store.write(layout.skill_path(agent_id), skill_md)
        except Exception as exc:
            raise store_failure(self._store, exc) from exc
        await self._audit_quietly(
            {"kind": AUDIT_KIND_SKILL_SET, "agent_id": agent_id, "removed": skill_md is None}
        )

    async def set_rule(self, agent_id: str, rule: Rule) -> Rule:
        """Replace the rule (version bumped), audit. Stored first: a failed write changes nothing."""
        if not isinstance(rule, Rule):
            raise InvalidValueError(f"rule must be a Rule, got {_type_name(rule)}")
        old = self.rules.get(agent_id)
        if old is None:
            raise NotFoundError(f"unknown agent {agent_id!r}")
        new = Rule.from_dict({**rule.to_dict(), "version": old.version + 1})
        try:
            await self._store.write(layout.rule_path(agent_id), _dumps(new.to_dict()))
        except Exception as exc:
            raise store_failure(self._store, exc) from exc
        if agent_id in self.passports:
            self.rules[agent_id] = new
        await self._audit_quietly(
            {"kind": AUDIT_KIND_RULE_SET, "agent_id": agent_id, "version": new.version}
        )
        return new

    async def _audit_quietly(self, record: dict[str, Any]) -> None:
        """Audit a change that already took effect (a failed audit append cannot undo it),
        and tell the listeners."""
        try:
            await self._seam.audit.append(record)
        except Exception:
            log.warning(
                "audit of %s for %s failed", record["kind"], record["agent_id"], exc_info=True
            )
        self._tell(record)

    def _tell(self, record: dict[str, Any]) -> None:
        """``on_agent_event`` for the change an audit record describes."""
        if self._seam.listeners:
            kind = _AGENT_EVENTS[record["kind"]]
            if kind == "resume_set" and record.get("source") == RESUME_SOURCE_OBSERVED:
                kind = "observation_recorded"
            payload = {k: v for k, v in record.items() if k not in ("kind", "agent_id")}
            self._seam.emit("on_agent_event", record["agent_id"], kind, payload)

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
        """Look up by id, else by name; a name never shadows an id.

        A registered agent id resolves to that agent. A string with the form of an
        id (:func:`looks_like_id`) is only ever looked up as an id. Anything else is
        looked up as a name.

        Raises:
            NotFoundError: no agent has that id or name (also for a non-string).
        """
        passport = self.passports.get(name_or_id) if isinstance(name_or_id, str) else None
        if passport is not None:
            return passport
        if isinstance(name_or_id, str) and not looks_like_id(name_or_id):
            agent_id = self.by_name.get(name_or_id)
            if agent_id is not None:
                return self.passports[agent_id]
        raise NotFoundError(f"no agent named or with id {name_or_id!r}")

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


def _handed_out(passport: Passport, resume: Resume, rule: Rule, *, existing: bool) -> Registration:
    """A Registration of copies: changing what the caller got never changes the registry."""
    return Registration(
        Passport.from_dict(passport.to_dict()),
        Resume.from_dict(resume.to_dict()),
        Rule.from_dict(rule.to_dict()),
        existing=existing,
    )


def _restore(store: KnowledgeStore, path: str, old_text: str | None) -> Callable[[], Any]:
    """The undo of one write: put ``old_text`` back (None: the file did not exist)."""
    if old_text is None:
        return lambda: store.delete(path)
    return lambda: store.write(path, old_text)


def _copy_record(cls: Any, record: Any, argument: str) -> Any:
    """A checked deep copy of ``record`` (built again from its dict) that JSON can encode.

    Raises:
        InvalidValueError: a field holds a value its record refuses or JSON cannot
            store; the message names the argument and the field.
    """
    try:
        copy = cls.from_dict(record.to_dict())
        _dumps(copy.to_dict())
    except InvalidValueError as exc:
        raise InvalidValueError(f"{argument}: {exc.message}") from exc
    except Exception as exc:  # deepcopy of a foreign object, an unencodable string, ...
        raise InvalidValueError(f"{argument}: cannot be stored ({exc})") from exc
    return copy


def _check_register_args(
    passport: object, resume: object, rule: object, skill_md: object, principal: object
) -> None:
    """Refuse arguments of the wrong type, naming the argument (InvalidValueError)."""
    if not isinstance(passport, Passport):
        raise InvalidValueError(f"passport must be a Passport, got {_type_name(passport)}")
    if resume is not None and not isinstance(resume, Resume):
        raise InvalidValueError(f"resume must be a Resume or None, got {_type_name(resume)}")
    if rule is not None and not isinstance(rule, Rule):
        raise InvalidValueError(f"rule must be a Rule or None, got {_type_name(rule)}")
    _check_skill(skill_md)
    if not isinstance(principal, str) or not principal:
        raise InvalidValueError(f"principal must be a non-empty string, got {principal!r}")


def _check_skill(skill_md: object) -> None:
    """Refuse a SKILL.md that is not a string, or not text a store can hold."""
    if skill_md is None:
        return
    if not isinstance(skill_md, str):
        raise InvalidValueError(f"skill_md must be a string or None, got {_type_name(skill_md)}")
    try:
        skill_md.encode()
    except UnicodeEncodeError as exc:
        raise InvalidValueError(f"skill_md is not valid text: {exc}") from exc
