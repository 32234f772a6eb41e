"""Pins the public surface of ``hubbub.network``: adding or removing a name is a deliberate act."""

from __future__ import annotations

import importlib

import hubbub.network as network

EXPECTED = {
    # hub, identity, rules, auth
    "Hub", "Connection", "Passport", "Resume", "ResumeExample", "ObservedStat", "AuthBlock", "CostProfile",
    "AgentRuntime", "Rule", "AccessBlock", "SessionTypeAccess", "LimitsBlock", "RateBlock", "InboxBlock",
    "parse_duration", "AuthAdapter", "AuthRegistry", "NoAuth", "ApiKeyAuth",
    # envelopes and events
    "Envelope", "Priority", "visible_to", "make_id", "EV_TEXT", "EV_PACKET", "EV_CONTEXT_SET",
    "EV_SESSION_INVITE", "EV_SESSION_INVITE_ACK", "EV_SESSION_INVITE_REJECT", "EV_SESSION_OPENED",
    "EV_SESSION_CLOSED", "EV_SESSION_EXPIRED", "EV_EXPECTATION_VIOLATED", "EV_TURN_FAILED",
    # sessions and adapters
    "SessionState", "ParticipantRole", "Participant", "ParticipantSchema", "Expectation", "SessionManifest",
    "SessionMetadata", "is_terminal_session_state", "SessionAdapter", "AdapterState", "AdapterResult",
    "BaseAdapter", "ConsultingAdapter", "ConsultingState", "CONSULTING_TYPE", "ConversationAdapter",
    "ConversationState", "CONVERSATION_TYPE",
    # views and expectations
    "ViewPolicy", "FullTranscript", "NamedTranscript", "WindowedSummary", "ExpectationContext", "ExpectationEvaluator",
    "Violation", "ViolationHandler", "MockClock",
    # audit
    "AuditLog", "AUDIT_KIND_AGENT_REGISTERED", "AUDIT_KIND_AGENT_UNREGISTERED", "AUDIT_KIND_RESUME_SET",
    "AUDIT_KIND_SKILL_SET", "AUDIT_KIND_RULE_SET", "AUDIT_KIND_SESSION_CREATED", "AUDIT_KIND_SESSION_CLOSED",
    "AUDIT_KIND_SESSION_EXPIRED", "AUDIT_KIND_TASK_TERMINATED", "AUDIT_KIND_EXPECTATION_VIOLATED",
    "AUDIT_KIND_TURN_FAILED", "ReplayError",
    # errors
    "NetworkError", "NotFoundError", "AccessDeniedError", "AuthError", "ProtocolError", "InboxFull",
    "WorkflowGraphError", "CODES", "InvalidValueError", "NameTakenError", "SessionCorruptError",
    "SessionTimeoutError", "StoreError", "StoreLockedError", "StoreUnavailableError", "TurnFailedError",
    # clients
    "HubClient", "AgentClient", "HumanClient", "Session", "default_handler", "read_wal_until", "resolve_view_policy",
    "stamp_dependencies", "SessionInject", "SessionStateInject", "HubInject", "AgentClientInject", "TaskInject",
    "SESSION_DEP", "SESSION_STATE_DEP", "AGENT_CLIENT_DEP", "HUB_DEP", "TASK_DEP",
    # skills (§21)
    "parse_skill_frontmatter", "ParsedSkill", "render_fallback_skill",
    # tasks (issue 10 part 5)
    "TaskMirror",
    # transport
    "LocalLink", "LinkClient", "LinkEndpoint", "HelloFrame", "WelcomeFrame", "SendFrame", "ReceiptFrame",
    "NotifyFrame", "AcceptFrame", "ErrorFrame", "PingFrame", "PongFrame", "SubscribeFrame", "UnsubscribeFrame",
    "EventFrame", "RequestFrame", "ResponseFrame", "GoodbyeFrame",
    # across processes (issue 9)
    "WsLink", "serve_ws", "MockLink", "ServerAuth", "BearerTokens", "SignedTokens", "UnauthenticatedError",
    # discussion and workflow (issue 10)
    "DiscussionAdapter", "DiscussionState", "DISCUSSION_TYPE", "ORDERING_ROUND_ROBIN", "WorkflowAdapter",
    "WorkflowState", "WORKFLOW_TYPE", "TransitionDecision", "TransitionTarget", "TransitionCondition",
    "Transition", "TransitionGraph", "TransitionRegistry", "AgentTarget", "RoundRobinTarget", "StayTarget",
    "RevertToInitiatorTarget", "TerminateTarget", "Always", "FromSpeaker", "ToolCalled", "ContextEquals",
    "register_target", "register_condition", "Handoff", "make_handoff_tools", "set_context", "delete_context",
    # the hub's seams (spec §15) and the observers (§26)
    "HubListener", "BaseHubListener", "HubArbiter", "BaseHubArbiter", "RuleBasedArbiter", "Allow", "Deny",
    "LoopDetector", "TokenMonitor", "ObserverAlert", "Severity", "BaseObserver",
}  # fmt: skip


def test_public_names_are_pinned() -> None:
    assert set(network.__all__) == EXPECTED
    assert len(network.__all__) == len(set(network.__all__))


def test_every_public_name_resolves() -> None:
    for name in network.__all__:
        assert getattr(network, name) is not None, name


def test_seed_imports_work() -> None:
    module = importlib.import_module("hubbub.network")
    for name in (
        "EV_SESSION_CLOSED",
        "EV_TEXT",
        "Hub",
        "HubClient",
        "LocalLink",
        "Passport",
        "Resume",
    ):
        assert hasattr(module, name)
    assert importlib.import_module("hubbub.knowledge").MemoryKnowledgeStore
    assert importlib.import_module("hubbub.config").AnthropicConfig
    assert importlib.import_module("hubbub").Agent


def test_multiparty_names_are_exported_from_the_adapters_package_too() -> None:
    adapters = importlib.import_module("hubbub.network.adapters")
    for name in (
        "DiscussionAdapter",
        "DiscussionState",
        "DISCUSSION_TYPE",
        "ORDERING_ROUND_ROBIN",
        "WorkflowAdapter",
        "WorkflowState",
        "WORKFLOW_TYPE",
    ):
        assert getattr(adapters, name) is getattr(network, name), name
        assert name in adapters.__all__
