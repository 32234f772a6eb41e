"""Rule, Passport, Resume and durations refuse nonsense where they are built (issue 8, item 9).

Every refusal is an ``InvalidValueError`` (code ``invalid_value``, also a
``ValueError``) whose message starts with the field's path and shows the value.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.network.errors import InvalidValueError, NetworkError
from hubbub.network.identity import (
    MAX_NAME_LENGTH,
    AgentRuntime,
    AuthBlock,
    CostProfile,
    ObservedStat,
    Passport,
    Resume,
    ResumeExample,
)
from hubbub.network.rule import (
    MAX_DURATION_SECONDS,
    AccessBlock,
    InboxBlock,
    LimitsBlock,
    RateBlock,
    Rule,
    SessionTypeAccess,
    parse_duration,
)


def refused(build: Any, *args: Any, **kwargs: Any) -> str:
    """Call ``build`` and return the message of the InvalidValueError it must raise."""
    with pytest.raises(InvalidValueError) as info:
        build(*args, **kwargs)
    assert info.value.code == "invalid_value"
    assert isinstance(info.value, ValueError) and isinstance(info.value, NetworkError)
    return info.value.message


# --- parse_duration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [math.inf, -math.inf, math.nan, 1e300, "99999999999999d", "9" * 5000, 10**400],
)
def test_parse_duration_refuses_infinite_and_absurd_values(value: Any) -> None:
    message = refused(parse_duration, value)
    assert "duration" in message
    assert len(message) < 200


@pytest.mark.parametrize(
    "value", [True, False, [1], {"s": 1}, b"5s", "abc", "5w", "1.5h", "-5s", -1, -0.5]
)
def test_parse_duration_refuses_garbled_negative_and_foreign_values(value: Any) -> None:
    refused(parse_duration, value)


def test_parse_duration_names_a_negative_string_as_negative() -> None:
    assert "non-negative" in refused(parse_duration, "-5s")


def test_parse_duration_accepts_up_to_one_hundred_years() -> None:
    assert parse_duration(MAX_DURATION_SECONDS) == MAX_DURATION_SECONDS
    assert parse_duration("36500d") == MAX_DURATION_SECONDS
    refused(parse_duration, MAX_DURATION_SECONDS + 1)
    refused(parse_duration, "36501d")
    assert parse_duration(None) == parse_duration(0) == parse_duration("") == 0
    assert parse_duration(" 3s ") == 3


def test_parse_duration_refuses_non_ascii_digits() -> None:
    refused(parse_duration, "\u0663s")  # ARABIC-INDIC DIGIT THREE


@settings(max_examples=200, deadline=None)
@given(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.from_regex(r"\A\s*\d{1,20}\s*[smhdw]?\s*\Z")
    | st.lists(st.integers(), max_size=2)
)
def test_parse_duration_returns_bounded_seconds_or_refuses(value: Any) -> None:
    try:
        seconds = parse_duration(value)
    except InvalidValueError:
        return
    assert type(seconds) is int
    assert 0 <= seconds <= MAX_DURATION_SECONDS


# --- Rule --------------------------------------------------------------------------------


def test_rule_refuses_bare_string_as_pattern_list() -> None:
    assert (
        refused(Rule.from_dict, {"access": {"outbound_to": "alice"}})
        == "Rule.access.outbound_to must be a list of name patterns, got 'alice'"
    )
    assert refused(AccessBlock, inbound_from="alice").startswith(
        "AccessBlock.inbound_from must be a list of name patterns"
    )
    assert refused(SessionTypeAccess, initiate="consulting").startswith(
        "SessionTypeAccess.initiate must be a list"
    )
    assert refused(AccessBlock, session_types_allowed="consulting").startswith(
        "AccessBlock.session_types_allowed must be a list"
    )


def test_rule_refuses_non_string_patterns() -> None:
    assert (
        refused(Rule.from_dict, {"access": {"outbound_to": [1]}})
        == "Rule.access.outbound_to[0] must be a string, got 1"
    )
    assert refused(AccessBlock, inbound_from=["ok", None]) == (
        "AccessBlock.inbound_from[1] must be a string, got None"
    )
    message = refused(Rule.from_dict, {"access": {"session_types": {"accept": ["x", 2]}}})
    assert message == "Rule.access.session_types.accept[1] must be a string, got 2"
    assert "lone surrogate" in refused(AccessBlock, outbound_to=["\ud800"])


def test_rule_refuses_garbled_and_negative_ttls() -> None:
    assert refused(Rule.from_dict, {"limits": {"session_ttl_default": "abc"}}).startswith(
        "Rule.limits.session_ttl_default: not a duration: 'abc'"
    )
    assert refused(LimitsBlock, session_ttl_default="-5s").startswith(
        "LimitsBlock.session_ttl_default: duration must be non-negative"
    )
    assert refused(LimitsBlock, task_ttl_default=math.inf).startswith(
        "LimitsBlock.task_ttl_default: not a duration: inf"
    )
    assert "100-year" in refused(
        Rule.from_dict, {"limits": {"task_ttl_default": "99999999999999d"}}
    )


@pytest.mark.parametrize("value", ["lots", -1, True, 1.5, None, 2**63, [3]])
def test_rule_refuses_bad_counts(value: Any) -> None:
    message = refused(Rule.from_dict, {"limits": {"inbox": {"max_pending": value}}})
    assert message == (
        f"Rule.limits.inbox.max_pending must be a non-negative integer, got {value!r}"
    )
    assert refused(InboxBlock, max_pending=value).startswith("InboxBlock.max_pending must be")


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"version": "1"}, "Rule.version"),
        ({"limits": {"max_concurrent_sessions": -3}}, "Rule.limits.max_concurrent_sessions"),
        ({"limits": {"max_concurrent_tasks": "2"}}, "Rule.limits.max_concurrent_tasks"),
        ({"limits": {"delegation_depth": False}}, "Rule.limits.delegation_depth"),
        ({"limits": {"rate": {"per_minute": -1}}}, "Rule.limits.rate.per_minute"),
        ({"limits": {"rate": {"burst": 0.5}}}, "Rule.limits.rate.burst"),
        (
            {"limits": {"rate": {"envelopes_per_minute": "60"}}},
            "Rule.limits.rate.envelopes_per_minute",
        ),
        ({"limits": {"inbox": {"high_water": -1}}}, "Rule.limits.inbox.high_water"),
        ({"limits": {"inbox": {"overflow": "explode"}}}, "Rule.limits.inbox.overflow"),
        ({"limits": {"inbox": {"overflow": ["reject"]}}}, "Rule.limits.inbox.overflow"),
    ],
)
def test_rule_from_dict_names_the_full_path(data: dict[str, Any], path: str) -> None:
    assert refused(Rule.from_dict, data).startswith(path + " ")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("alice", "Rule must be an object (dict), got 'alice'"),
        ([], "Rule must be an object (dict), got []"),
        ({"access": "all"}, "Rule.access must be an object (dict), got 'all'"),
        ({"limits": {"inbox": 5}}, "Rule.limits.inbox must be an object (dict), got 5"),
        ({"limits": {"rate": [1]}}, "Rule.limits.rate must be an object (dict), got [1]"),
        ({"acess": {}}, "Rule has unknown field(s): 'acess'"),
        ({"limits": {"inbox": {"max_pendng": 1}}}, "Rule.limits.inbox has unknown field(s)"),
        ({1: 2}, "Rule has unknown field(s): 1"),
    ],
)
def test_rule_from_dict_refuses_non_dicts_and_unknown_keys(data: Any, message: str) -> None:
    assert refused(Rule.from_dict, data).startswith(message)


def test_rule_refuses_blocks_of_the_wrong_type() -> None:
    assert refused(Rule, access={"outbound_to": ["x"]}).startswith(
        "Rule.access must be a AccessBlock, got dict"
    )
    assert refused(Rule, limits="none").startswith("Rule.limits must be a LimitsBlock")
    assert refused(Rule, rate=60).startswith("Rule.rate must be a RateBlock")
    assert refused(Rule, inbox={"max_pending": 1}).startswith("Rule.inbox must be a InboxBlock")
    assert refused(LimitsBlock, inbox=100).startswith("LimitsBlock.inbox must be a InboxBlock")
    assert refused(AccessBlock, session_types=["*"]).startswith(
        "AccessBlock.session_types must be a SessionTypeAccess"
    )


def test_rule_rechecks_a_block_changed_after_it_was_built() -> None:
    limits = LimitsBlock()
    limits.inbox.max_pending = "lots"  # type: ignore[assignment]
    assert refused(Rule, limits=limits).startswith("Rule.limits.inbox.max_pending")


def test_valid_rules_still_round_trip_and_copy_their_lists() -> None:
    patterns = ["team-*"]
    rule = Rule(
        access=AccessBlock(inbound_from=patterns, outbound_to=("bob",)),
        limits=LimitsBlock(session_ttl_default=None, task_ttl_default=2.5),  # type: ignore[arg-type]
    )
    patterns.append("eve")
    assert rule.access.inbound_from == ["team-*"]
    assert rule.access.outbound_to == ["bob"]
    assert Rule.from_dict(orjson.loads(orjson.dumps(rule.to_dict()))).to_dict() == rule.to_dict()
    assert Rule.from_dict({"access": None, "limits": None}).to_dict() == Rule().to_dict()
    assert Rule.from_dict({"limits": {"rate": {"envelopes_per_minute": 60}}}).limits.rate == (
        RateBlock(per_minute=60)
    )
    assert Rule.from_dict(
        {"access": {"session_types_allowed": ["consulting"]}}
    ).access.session_types == SessionTypeAccess(["consulting"], ["consulting"])


# --- Passport ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "must be a non-empty string, got ''"),
        (None, "must be a non-empty string, got None"),
        (3, "must be a non-empty string, got 3"),
        (["alice"], "must be a non-empty string"),
        ("x" * (MAX_NAME_LENGTH + 1), f"over the {MAX_NAME_LENGTH} limit"),
        ("al\x00ice", "control character (U+0000 at index 2)"),
        ("alice\n", "control character (U+000A at index 5)"),
        ("bob\x7f", "control character (U+007F"),
        ("\x85x", "control character (U+0085"),
        (" bob", "leading or trailing whitespace"),
        ("bob ", "leading or trailing whitespace"),
        ("b\ud800b", "lone surrogate"),
    ],
)
def test_passport_refuses_bad_names(name: Any, problem: str) -> None:
    message = refused(Passport, name)
    assert message.startswith("Passport.name ")
    assert problem in message
    assert len(message) < 250
    assert refused(Passport.from_dict, {"name": name}).startswith("Passport.name ")


def test_passport_accepts_ordinary_names() -> None:
    for name in ("alice", "team-1.bob", "Agent Smith", "ünïcødé", "x" * MAX_NAME_LENGTH, "🤖"):
        assert Passport(name).name == name


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "Passport must be an object (dict), got None"),
        ("alice", "Passport must be an object (dict), got 'alice'"),
        ({}, "Passport.name is missing"),
        ({"name": "a", "colour": "red"}, "Passport has unknown field(s): 'colour'"),
        ({"name": "a", "owner": None}, "Passport.owner must be a string, got None"),
        ({"name": "a", "model": 4}, "Passport.model must be a string or None, got 4"),
        ({"name": "a", "version": "2"}, "Passport.version must be a non-negative integer"),
        ({"name": "a", "version": True}, "Passport.version must be a non-negative integer"),
        ({"name": "a", "kind": ["agent"]}, "Passport.kind must be one of"),
        ({"name": "a", "created_at": 0}, "Passport.created_at must be a string, got 0"),
        ({"name": "a", "cost": "cheap"}, "Passport.cost must be an object (dict), got 'cheap'"),
        (
            {"name": "a", "cost": {"input_per_mtok": math.nan}},
            "Passport.cost.input_per_mtok must be a finite non-negative number, got nan",
        ),
        (
            {"name": "a", "cost": {"output_per_mtok": -1}},
            "Passport.cost.output_per_mtok must be a finite non-negative number",
        ),
        (
            {"name": "a", "cost": {"input_per_mtok": 10**400}},
            "Passport.cost.input_per_mtok must be a finite",
        ),
        ({"name": "a", "cost": {"latency_tier": 1}}, "Passport.cost.latency_tier must be"),
        ({"name": "a", "auth": "token"}, "Passport.auth must be an object (dict), got 'token'"),
        ({"name": "a", "auth": {"scheme": ""}}, "Passport.auth.scheme must be a non-empty string"),
        ({"name": "a", "auth": {"claim": "t"}}, "Passport.auth.claim must be a dict"),
        (
            {"name": "a", "auth": {"claim": {"k": math.inf}}},
            "Passport.auth.claim.k is Infinity",
        ),
        ({"name": "a", "auth": {"claim": {1: "x"}}}, "Passport.auth.claim key 1 is not a string"),
    ],
)
def test_passport_from_dict_names_the_bad_field(data: Any, message: str) -> None:
    assert refused(Passport.from_dict, data).startswith(message)


def test_passport_refuses_nested_records_of_the_wrong_type() -> None:
    assert refused(Passport, "a", cost={"input_per_mtok": 1.0}).startswith(
        "Passport.cost must be a CostProfile, got dict"
    )
    assert refused(Passport, "a", auth={"scheme": "none"}).startswith(
        "Passport.auth must be a AuthBlock, got dict"
    )
    assert refused(AuthBlock, claim={"when": object()}).startswith("AuthBlock.claim.when is a")
    assert refused(CostProfile, True).startswith("CostProfile.input_per_mtok")


def test_passport_rechecks_a_claim_changed_after_the_block_was_built() -> None:
    auth = AuthBlock("api_key")
    auth.claim["token"] = {1, 2}
    assert refused(Passport, "a", auth=auth).startswith("Passport.auth.claim.token is a set")


def test_cost_prices_are_floats() -> None:
    cost = CostProfile(3, 15)
    assert (cost.input_per_mtok, cost.output_per_mtok) == (3.0, 15.0)
    assert type(cost.input_per_mtok) is float


# --- Resume ------------------------------------------------------------------------------


def test_resume_refuses_bare_string_as_capability_list() -> None:
    assert refused(Resume, claimed_capabilities="sql") == (
        "Resume.claimed_capabilities must be a list of capability names, got 'sql'"
    )
    assert refused(Resume.from_dict, {"domains": "finance"}).startswith(
        "Resume.domains must be a list of domain names"
    )
    assert refused(Resume, claimed_capabilities=["sql", 7]) == (
        "Resume.claimed_capabilities[1] must be a string, got 7"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "Resume must be an object (dict), got []"),
        ({"skills": []}, "Resume has unknown field(s): 'skills'"),
        ({"summary": 5}, "Resume.summary must be a string, got 5"),
        ({"version": -1}, "Resume.version must be a non-negative integer, got -1"),
        ({"last_updated": None}, "Resume.last_updated must be a string, got None"),
        ({"examples": "one"}, "Resume.examples must be a list of objects, got 'one'"),
        ({"examples": ["one"]}, "Resume.examples[0] must be an object (dict), got 'one'"),
        ({"examples": [{}]}, "Resume.examples[0].title is missing"),
        ({"examples": [{"title": 3}]}, "Resume.examples[0].title must be a string, got 3"),
        (
            {"examples": [{"title": "t", "when": 5}]},
            "Resume.examples[0].when must be a string or None, got 5",
        ),
        ({"examples": [{"title": "t", "x": 1}]}, "Resume.examples[0] has unknown field(s)"),
        ({"observed": []}, "Resume.observed must be an object, got []"),
        ({"observed": {"sql": 3}}, "Resume.observed['sql'] must be an object (dict), got 3"),
        (
            {"observed": {"sql": {"n": -1}}},
            "Resume.observed['sql'].n must be a non-negative integer, got -1",
        ),
        (
            {"observed": {"sql": {"p50_latency_ms": 1.5}}},
            "Resume.observed['sql'].p50_latency_ms must be a non-negative integer",
        ),
    ],
)
def test_resume_from_dict_names_the_bad_field(data: Any, message: str) -> None:
    assert refused(Resume.from_dict, data).startswith(message)


def test_resume_refuses_records_of_the_wrong_type() -> None:
    assert refused(Resume, examples=[{"title": "t"}]).startswith(
        "Resume.examples[0] must be a ResumeExample, got dict"
    )
    assert refused(Resume, observed={"sql": {"n": 1}}).startswith(
        "Resume.observed['sql'] must be a ObservedStat, got dict"
    )
    assert refused(Resume, observed={1: ObservedStat()}).startswith("Resume.observed key 1")
    assert refused(Resume, observed=[("sql", ObservedStat())]).startswith(
        "Resume.observed must be a dict"
    )
    assert refused(ObservedStat, completed="3").startswith("ObservedStat.completed")
    assert refused(ResumeExample, None).startswith("ResumeExample.title must be a string")


def test_valid_resumes_still_round_trip() -> None:
    resume = Resume(
        claimed_capabilities=("sql",),  # type: ignore[arg-type]
        examples=[ResumeExample("q1", session_id="s1")],
        observed={"sql": ObservedStat(n=2, completed=1, p50_latency_ms=10)},
    )
    assert resume.claimed_capabilities == ["sql"]
    assert Resume.from_dict(orjson.loads(orjson.dumps(resume.to_dict()))) == resume
    # null in stored data means "none"
    assert Resume.from_dict({"claimed_capabilities": None, "examples": None}) == Resume()


def test_agent_runtime_checks_its_fields() -> None:
    assert AgentRuntime("a1").reachable is True
    assert refused(AgentRuntime, "").startswith("AgentRuntime.agent_id must be a non-empty")
    assert refused(AgentRuntime, "a1", reachable=1).startswith("AgentRuntime.reachable")
    assert refused(AgentRuntime, "a1", target=5).startswith("AgentRuntime.target")


# --- properties --------------------------------------------------------------------------

json_ish = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["*", "alice", "2h", "-5s", "abc", "reject", "", "agent"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "version",
                    "access",
                    "limits",
                    "inbound_from",
                    "outbound_to",
                    "session_types",
                    "initiate",
                    "accept",
                    "inbox",
                    "rate",
                    "max_pending",
                    "overflow",
                    "high_water",
                    "per_minute",
                    "burst",
                    "session_ttl_default",
                    "cost",
                    "auth",
                    "claim",
                    "scheme",
                    "kind",
                    "examples",
                    "observed",
                    "title",
                    "n",
                    "summary",
                    "claimed_capabilities",
                ]
            )
            | st.text(max_size=4),
            inner,
            max_size=5,
        )
    ),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(json_ish, st.sampled_from([Rule.from_dict, Passport.from_dict, Resume.from_dict]))
def test_from_dict_builds_a_storable_record_or_refuses(data: Any, from_dict: Any) -> None:
    try:
        record = from_dict(data)
    except InvalidValueError as exc:
        assert exc.message.split(" ")[0].split(".")[0].split("[")[0].rstrip(":") in {
            "Rule",
            "Passport",
            "Resume",
        }
        return
    # Accepted: it encodes as JSON, and reads back the same.
    encoded = orjson.dumps(record.to_dict())
    assert type(record).from_dict(orjson.loads(encoded)).to_dict() == record.to_dict()


def test_to_dict_refuses_a_record_changed_to_nonsense_after_it_was_built() -> None:
    rule = Rule()
    rule.access.outbound_to = 5  # type: ignore[assignment]
    assert refused(rule.to_dict).startswith("Rule.access.outbound_to must be a list")
    passport = Passport("alice")
    passport.cost = CostProfile()
    passport.cost.input_per_mtok = math.nan
    assert refused(passport.to_dict).startswith("Passport.cost.input_per_mtok must be a finite")
    passport.cost = None
    passport.version = "2"  # type: ignore[assignment]
    assert refused(passport.to_dict).startswith("Passport.version")
    resume = Resume()
    resume.claimed_capabilities = "sql"  # type: ignore[assignment]
    assert refused(resume.to_dict).startswith("Resume.claimed_capabilities")
    resume = Resume(observed={"sql": ObservedStat()})
    resume.observed["sql"].n = -1
    assert refused(resume.to_dict).startswith("Resume.observed['sql'].n must be")
