"""Session adapters: the rules of each session type, as pure state machines."""

from __future__ import annotations

from hubbub.network.adapters.base import (
    AdapterResult,
    AdapterState,
    BaseAdapter,
    SessionAdapter,
    check_turn_failed,
    default_build_round_envelope,
    default_extract_turn_input,
    default_render_envelope,
)
from hubbub.network.adapters.consulting import CONSULTING_TYPE, ConsultingAdapter, ConsultingState
from hubbub.network.adapters.conversation import (
    CONVERSATION_TYPE,
    ConversationAdapter,
    ConversationState,
)
from hubbub.network.adapters.discussion import (
    DISCUSSION_TYPE,
    ORDERING_ROUND_ROBIN,
    DiscussionAdapter,
    DiscussionState,
)
from hubbub.network.adapters.workflow import WORKFLOW_TYPE, WorkflowAdapter, WorkflowState

__all__ = [
    "CONSULTING_TYPE",
    "CONVERSATION_TYPE",
    "DISCUSSION_TYPE",
    "ORDERING_ROUND_ROBIN",
    "WORKFLOW_TYPE",
    "AdapterResult",
    "AdapterState",
    "BaseAdapter",
    "ConsultingAdapter",
    "ConsultingState",
    "ConversationAdapter",
    "ConversationState",
    "DiscussionAdapter",
    "DiscussionState",
    "SessionAdapter",
    "WorkflowAdapter",
    "WorkflowState",
    "check_turn_failed",
    "default_adapters",
    "default_build_round_envelope",
    "default_extract_turn_input",
    "default_render_envelope",
]


def default_adapters() -> list[SessionAdapter]:
    """Fresh instances of every built-in adapter (what ``Hub.open`` registers)."""
    return [ConsultingAdapter(), ConversationAdapter(), DiscussionAdapter(), WorkflowAdapter()]
