"""Skills: reading a SKILL.md's frontmatter, and writing one for an agent that has none.

A SKILL.md is Markdown with an optional frontmatter block between two ``---``
lines at the very top::

    ---
    name: analyst
    description: Reads filings and answers questions about them.
    tags: [policy, finance]
    ---
    # How to ask me
    ...

:func:`parse_skill_frontmatter` reads the ``key: value`` lines of that block as
strings (a list such as ``[policy, finance]`` stays the raw string, as the docs
say) and never raises: text without a block, or with a block that is never
closed, has empty frontmatter and is all body. :func:`render_fallback_skill`
writes the SKILL.md ``peers(action="describe")`` shows for an agent registered
without one, from its passport and resume.

Pure: no I/O.
"""

from __future__ import annotations

from hubbub.network.identity import Passport, Resume

__all__ = [
    "FALLBACK_DESCRIPTION",
    "ParsedSkill",
    "parse_skill_frontmatter",
    "render_fallback_skill",
]

#: The ``description`` of a fallback skill whose resume has no summary.
FALLBACK_DESCRIPTION = "Network-registered agent."

_FENCE = "---"


class ParsedSkill(dict[str, str]):
    """A parsed SKILL.md: the mapping is its frontmatter; ``body`` is the Markdown after it.

    Args:
        frontmatter: The ``key: value`` pairs of the frontmatter block.
        body: The text after the block (the whole text when there is no block).
    """

    def __init__(self, frontmatter: dict[str, str] | None = None, body: str = "") -> None:
        super().__init__(frontmatter or {})
        self.body = body

    @property
    def frontmatter(self) -> dict[str, str]:
        """The frontmatter as a plain dict (a copy)."""
        return dict(self)

    def __repr__(self) -> str:
        return f"ParsedSkill({dict(self)!r}, body={self.body[:40]!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ParsedSkill):
            return dict(self) == dict(other) and self.body == other.body
        return dict.__eq__(self, other)

    __hash__ = None  # mutable, like dict


def parse_skill_frontmatter(md: str) -> ParsedSkill:
    """Split a SKILL.md into its frontmatter and its body; never raises.

    The block starts at the first line (after an optional byte-order mark) with a
    line that is ``---`` and ends at the next such line. Inside it, every
    ``key: value`` line gives one entry (both sides stripped, matching quotes
    around the value removed, a later key wins); blank lines, ``#`` comments and
    lines without a key are skipped. The body is the text after the closing line,
    without the blank lines that start it.

    Args:
        md: The SKILL.md text (anything that is not a string parses as empty).

    Returns:
        The frontmatter (possibly empty) with ``.body``.
    """
    if not isinstance(md, str):
        return ParsedSkill()
    text = md[1:] if md.startswith("\ufeff") else md
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != _FENCE:
        return ParsedSkill(body=md)
    for end in range(1, len(lines)):
        if lines[end].rstrip() == _FENCE:
            break
    else:
        return ParsedSkill(body=md)  # never closed: not a frontmatter block
    front: dict[str, str] = {}
    for line in lines[1:end]:
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        key, colon, value = entry.partition(":")
        key = key.strip()
        if not colon or not key:
            continue
        front[key] = _unquote(value.strip())
    body = "\n".join(lines[end + 1 :]).lstrip("\r\n")
    return ParsedSkill(front, body)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _one_line(value: str) -> str:
    """A value on one line (runs of whitespace, line breaks included, become one space)."""
    return " ".join(value.split())


def _scalar(value: str) -> str:
    """``value`` written so that :func:`parse_skill_frontmatter` reads it back unchanged."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return f"'{value}'" if value[0] == '"' else f'"{value}"'
    return value


def render_fallback_skill(passport: Passport, resume: Resume | None) -> str:
    """The SKILL.md of an agent registered without one, from what the hub knows of it.

    Frontmatter ``name`` and ``description`` (the resume's summary, or
    :data:`FALLBACK_DESCRIPTION`), then the sections that have content:
    "Capabilities" (claimed), "Domains", "Track record" (per capability:
    completed / failed / expired of n) and "Examples" (title, outcome).
    :func:`parse_skill_frontmatter` reads back ``name`` and ``description``.

    Args:
        passport: The agent's passport.
        resume: Its resume (None: an empty one).

    Returns:
        The Markdown text, ending in a newline.
    """
    resume = resume if resume is not None else Resume()
    name = _one_line(passport.name) or "agent"
    description = _one_line(resume.summary) or FALLBACK_DESCRIPTION
    lines = [_FENCE, f"name: {_scalar(name)}", f"description: {_scalar(description)}", _FENCE]
    lines += ["", f"# {name}"]
    if resume.summary.strip():
        lines += ["", resume.summary.strip()]
    if resume.claimed_capabilities:
        lines += ["", "## Capabilities", *(f"- {c}" for c in resume.claimed_capabilities)]
    if resume.domains:
        lines += ["", "## Domains", *(f"- {d}" for d in resume.domains)]
    if resume.observed:
        lines += ["", "## Track record"]
        lines += [
            f"- {capability}: {s.completed} completed, {s.failed} failed, "
            f"{s.expired} expired (n={s.n})"
            for capability, s in sorted(resume.observed.items())
        ]
    if resume.examples:
        lines += ["", "## Examples"]
        for example in resume.examples:
            outcome = f" — {_one_line(example.outcome)}" if example.outcome.strip() else ""
            lines.append(f"- {_one_line(example.title)}{outcome}")
    return "\n".join(lines) + "\n"
