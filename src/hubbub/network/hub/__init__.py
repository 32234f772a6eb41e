"""The hub: the Hub facade over its parts (registry, session table, pipeline, router, sweepers), audit, recovery, and its seams (arbiters, listeners)."""

from __future__ import annotations

from hubbub.network.expectations import (
    ExpectationContext,
    ExpectationEvaluator,
    Violation,
    default_evaluators,
)
from hubbub.network.hub.arbiter import (
    Allow,
    BaseHubArbiter,
    Deny,
    HubArbiter,
    RuleBasedArbiter,
)
from hubbub.network.hub.audit import (
    AUDIT_KIND_AGENT_REGISTERED,
    AUDIT_KIND_AGENT_UNREGISTERED,
    AUDIT_KIND_EXPECTATION_VIOLATED,
    AUDIT_KIND_RESUME_SET,
    AUDIT_KIND_RULE_SET,
    AUDIT_KIND_SESSION_CLOSED,
    AUDIT_KIND_SESSION_CREATED,
    AUDIT_KIND_SESSION_EXPIRED,
    AUDIT_KIND_SKILL_SET,
    AUDIT_KIND_TASK_TERMINATED,
    AUDIT_KIND_TURN_FAILED,
    RESUME_SOURCE_OBSERVED,
    RESUME_SOURCE_TENANT,
    AuditLog,
)
from hubbub.network.hub.connection import Connection
from hubbub.network.hub.core import Hub
from hubbub.network.hub.intercept import HubInterceptor
from hubbub.network.hub.listeners import BaseHubListener, HubListener, ReportedTurnFailure
from hubbub.network.hub.recovery import ReplayError
from hubbub.network.hub.violations import (
    AuditHandler,
    AutoCloseHandler,
    NotifySessionHandler,
    ViolationHandler,
    default_handlers,
)

__all__ = [
    "AUDIT_KIND_AGENT_REGISTERED",
    "AUDIT_KIND_AGENT_UNREGISTERED",
    "AUDIT_KIND_EXPECTATION_VIOLATED",
    "AUDIT_KIND_RESUME_SET",
    "AUDIT_KIND_RULE_SET",
    "AUDIT_KIND_SESSION_CLOSED",
    "AUDIT_KIND_SESSION_CREATED",
    "AUDIT_KIND_SESSION_EXPIRED",
    "AUDIT_KIND_SKILL_SET",
    "AUDIT_KIND_TASK_TERMINATED",
    "AUDIT_KIND_TURN_FAILED",
    "RESUME_SOURCE_OBSERVED",
    "RESUME_SOURCE_TENANT",
    "Allow",
    "AuditHandler",
    "AuditLog",
    "AutoCloseHandler",
    "BaseHubArbiter",
    "BaseHubListener",
    "Connection",
    "Deny",
    "ExpectationContext",
    "ExpectationEvaluator",
    "Hub",
    "HubInterceptor",
    "HubArbiter",
    "HubListener",
    "NotifySessionHandler",
    "ReplayError",
    "ReportedTurnFailure",
    "RuleBasedArbiter",
    "Violation",
    "ViolationHandler",
    "default_evaluators",
    "default_handlers",
]
