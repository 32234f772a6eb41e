"""Skills (§21): the SKILL.md frontmatter parser and the fallback skill, sans-I/O."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hubbub.network.identity import ObservedStat, Passport, Resume, ResumeExample
from hubbub.network.skills import (
    FALLBACK_DESCRIPTION,
    ParsedSkill,
    parse_skill_frontmatter,
    render_fallback_skill,
)

DOC = """---
name: analyst
description: Reads filings: and answers questions.
# a comment
tags: [policy, finance]

quoted: "a value"
not a key line
---

# How to ask me
Ask one thing at a time.
"""


def test_frontmatter_and_body_are_split() -> None:
    parsed = parse_skill_frontmatter(DOC)
    assert isinstance(parsed, dict)
    assert parsed.frontmatter == {
        "name": "analyst",
        "description": "Reads filings: and answers questions.",  # split at the first colon
        "tags": "[policy, finance]",  # lists stay raw strings
        "quoted": "a value",
    }
    assert parsed["name"] == "analyst"
    assert parsed.body == "# How to ask me\nAsk one thing at a time.\n"


def test_text_without_a_block_is_all_body() -> None:
    for text in ("# Just markdown\n", "", "name: x\n---\n", "  ---\nname: x\n---\n"):
        parsed = parse_skill_frontmatter(text)
        assert parsed.frontmatter == {}
        assert parsed.body == text


def test_an_unterminated_block_is_all_body() -> None:
    text = "---\nname: x\ndescription: never closed\n"
    parsed = parse_skill_frontmatter(text)
    assert parsed.frontmatter == {}
    assert parsed.body == text


def test_crlf_bom_and_later_keys() -> None:
    parsed = parse_skill_frontmatter("\ufeff---\r\nname: a\r\nname: b\r\n---\r\nbody\r\n")
    assert parsed.frontmatter == {"name": "b"}
    assert parsed.body == "body\r\n"


def test_empty_block_and_frontmatter_is_a_copy() -> None:
    parsed = parse_skill_frontmatter("---\n---\nbody")
    assert parsed.frontmatter == {} and parsed.body == "body"
    front = parse_skill_frontmatter("---\nk: v\n---\n").frontmatter
    front["k"] = "changed"
    assert parse_skill_frontmatter("---\nk: v\n---\n")["k"] == "v"


def test_non_string_parses_as_empty() -> None:
    parsed = parse_skill_frontmatter(None)  # type: ignore[arg-type]
    assert parsed == ParsedSkill() and parsed.body == ""


@given(st.text())
def test_parser_never_raises_and_loses_no_body(text: str) -> None:
    parsed = parse_skill_frontmatter(text)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in parsed.items())
    assert isinstance(parsed.body, str)
    assert parsed.body in text  # the body is the text, or what follows the block
    if not text.lstrip("\ufeff").startswith("---"):
        assert parsed.frontmatter == {} and parsed.body == text


@given(
    st.text(
        st.characters(categories=["L", "N", "P", "S", "Zs"], exclude_characters="\r\n\x85"),
        max_size=60,
    ),
    st.lists(
        st.tuples(
            st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
            st.from_regex(r"[A-Za-z0-9 ,.\[\]:-]{0,30}", fullmatch=True),
        ),
        max_size=6,
    ),
)
def test_written_frontmatter_reads_back(body_line: str, pairs: list[tuple[str, str]]) -> None:
    text = "---\n" + "".join(f"{k}: {v}\n" for k, v in pairs) + "---\n" + body_line
    parsed = parse_skill_frontmatter(text)
    expected: dict[str, str] = {}
    for k, v in pairs:
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
            v = v[1:-1]
        expected[k] = v
    assert parsed.frontmatter == expected
    assert parsed.body == body_line.lstrip("\r\n")


def test_fallback_skill_of_a_bare_agent() -> None:
    md = render_fallback_skill(Passport(name="bob"), None)
    parsed = parse_skill_frontmatter(md)
    assert parsed.frontmatter == {"name": "bob", "description": FALLBACK_DESCRIPTION}
    assert parsed.body == "# bob\n"
    for section in ("Capabilities", "Domains", "Track record", "Examples"):
        assert section not in md


def test_fallback_skill_has_every_section_with_content() -> None:
    resume = Resume(
        summary="Math expert.\nCareful with units.",
        claimed_capabilities=["math", "units"],
        domains=["physics"],
        examples=[ResumeExample(title="Solved x", outcome="correct"), ResumeExample(title="Y")],
        observed={"math": ObservedStat(n=5, completed=3, failed=1, expired=1)},
    )
    md = render_fallback_skill(Passport(name="bob"), resume)
    parsed = parse_skill_frontmatter(md)
    # the summary's line break cannot end the frontmatter line
    assert parsed["description"] == "Math expert. Careful with units."
    assert parsed["name"] == "bob"
    body = parsed.body
    assert "## Capabilities\n- math\n- units" in body
    assert "## Domains\n- physics" in body
    assert "## Track record\n- math: 3 completed, 1 failed, 1 expired (n=5)" in body
    assert "## Examples\n- Solved x — correct\n- Y\n" in body
    assert body.index("Capabilities") < body.index("Domains") < body.index("Track record")
    assert body.index("Track record") < body.index("Examples")


_NAME = st.text(
    st.characters(exclude_categories=["Cc", "Cs"], exclude_characters="\x85"),
    min_size=1,
    max_size=40,
).filter(lambda n: n == n.strip() and " ".join(n.split()) == n)


@given(_NAME, st.text(max_size=80))
def test_fallback_skill_always_reads_back(name: str, summary: str) -> None:
    md = render_fallback_skill(Passport(name=name), Resume(summary=summary))
    parsed = parse_skill_frontmatter(md)
    assert parsed["name"] == name
    assert parsed["description"] == (" ".join(summary.split()) or FALLBACK_DESCRIPTION)
