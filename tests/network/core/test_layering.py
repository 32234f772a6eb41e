"""The sans-I/O core imports no asyncio, socket, clock, random, thread or store.

Conventions item 1: adapters, views, expectation evaluators, the envelope/frame
codec and the session lifecycle are values in, values out. This test walks the
AST of each core module (every ``import``/``from ... import``, at any depth,
including inside functions and ``if TYPE_CHECKING:`` blocks) and fails on a
forbidden import.

To extend: add a module path to ``CORE_MODULES`` (or a glob to ``CORE_GLOBS``),
or a name to ``FORBIDDEN``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src"
NETWORK = SRC / "hubbub" / "network"

#: Core modules (relative to ``src/hubbub/network``) that must stay sans-I/O.
CORE_MODULES: tuple[str, ...] = (
    "envelope.py",
    "errors.py",
    "identity.py",
    "rule.py",
    "session.py",
    "lifecycle.py",
    "views.py",
    "skills.py",
    "expectations.py",
    "jsonvalue.py",
    "usage.py",
    "protocol/frames.py",
    "task_records.py",
    # Later: "transitions.py" (workflow vocabulary).
)

#: Globs (relative to ``src/hubbub/network``) whose every match is core. New
#: adapters (discussion, workflow) are picked up here without editing this file.
CORE_GLOBS: tuple[str, ...] = ("adapters/*.py", "protocol/*.py")

#: Optional core modules: checked when they exist, so adding them is enough.
OPTIONAL_CORE_MODULES: tuple[str, ...] = ("transitions.py",)

#: A module name is forbidden if it equals an entry or starts with ``entry + "."``.
FORBIDDEN: tuple[str, ...] = (
    "asyncio",
    "socket",
    "time",
    "datetime",
    "random",
    "threading",
    "selectors",
    "hubbub.knowledge",
    "hubbub.network.hub",
    "hubbub.network.client",
    "hubbub.network.transport.local",
)

#: Prefix forbidden without a dot boundary (``hubbub.knowledge_x`` is a store too).
FORBIDDEN_PREFIXES: tuple[str, ...] = ("hubbub.knowledge",)


def core_files() -> list[Path]:
    """Every core module file, explicit list plus globs, deduplicated and sorted."""
    files = {NETWORK / rel for rel in CORE_MODULES}
    for pattern in CORE_GLOBS:
        files.update(NETWORK.glob(pattern))
    for rel in OPTIONAL_CORE_MODULES:
        if (NETWORK / rel).exists():
            files.add(NETWORK / rel)
    return sorted(files)


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@dataclass(frozen=True, slots=True)
class ImportedName:
    """One module a file imports (``import a.b`` → ``a.b``; ``from a import b`` → ``a`` and ``a.b``)."""

    module: str
    line: int


def imported_modules(path: Path) -> list[ImportedName]:
    """Every module name ``path`` imports, resolving relative imports against its package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    out: list[ImportedName] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(ImportedName(alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                if node.level > 1:
                    base_parts = base_parts[: -(node.level - 1)]
                base = ".".join(base_parts)
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            out.append(ImportedName(mod, node.lineno))
            # ``from hubbub.network import hub`` imports the submodule ``hub``.
            out.extend(ImportedName(f"{mod}.{alias.name}", node.lineno) for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None))
            in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            out.append(ImportedName(node.args[0].value, node.lineno))
    return out


def is_forbidden(module: str) -> bool:
    """Return True if importing ``module`` breaks the sans-I/O rule."""
    if any(module == f or module.startswith(f + ".") for f in FORBIDDEN):
        return True
    return any(module.startswith(p) for p in FORBIDDEN_PREFIXES)


def violations(path: Path) -> list[str]:
    """Human-readable forbidden imports of one file."""
    return [
        f"{path.relative_to(SRC)}:{imp.line} imports {imp.module}"
        for imp in imported_modules(path)
        if is_forbidden(imp.module)
    ]


def test_core_module_list_is_complete() -> None:
    missing = [rel for rel in CORE_MODULES if not (NETWORK / rel).is_file()]
    assert missing == []
    names = {p.relative_to(NETWORK).as_posix() for p in core_files()}
    # The globs must actually match the adapters that exist today.
    assert {"adapters/base.py", "adapters/consulting.py", "adapters/conversation.py"} <= names


@pytest.mark.parametrize("path", core_files(), ids=lambda p: p.relative_to(NETWORK).as_posix())
def test_core_module_imports_nothing_forbidden(path: Path) -> None:
    assert violations(path) == []


@pytest.mark.parametrize("path", core_files(), ids=lambda p: p.relative_to(NETWORK).as_posix())
def test_core_module_imports_standalone(path: Path) -> None:
    """Each core module imports first in a fresh interpreter (catches import cycles)."""
    proc = subprocess.run(
        [sys.executable, "-c", f"import {_module_name(path)}"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": ""},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


# --- the checker itself must be able to fail -------------------------------------------


BAD_SOURCE = """
import os
import asyncio
import datetime as dt
from time import monotonic
from random import choice
import threading, selectors
from hubbub.knowledge.memory import MemoryKnowledgeStore
from hubbub.network import hub
from hubbub.network.client.session import Session
from hubbub.network.transport import local
from . import ids


def late():
    import socket
    from hubbub.knowledge_extra import thing
    return socket, thing


def later():
    import importlib
    return importlib.import_module("hubbub.network.hub.core")
"""

GOOD_SOURCE = """
from __future__ import annotations
import enum
from dataclasses import dataclass
from hubbub.network.envelope import Envelope
from hubbub.network.protocol.frames import encode_frame
from hubbub.network.hubris import thing
from hubbub.networking import other
import timeit
import datetimes
"""


def _write(tmp_path: Path, source: str) -> Path:
    pkg = tmp_path / "hubbub" / "network" / "transport"
    pkg.mkdir(parents=True)
    path = pkg / "fake.py"
    path.write_text(source)
    return path


def test_checker_flags_every_forbidden_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "SRC", tmp_path)
    path = _write(tmp_path, BAD_SOURCE)
    flagged = {line.split(" imports ")[1] for line in violations(path)}
    assert flagged >= {
        "asyncio",
        "datetime",
        "time",
        "random",
        "threading",
        "selectors",
        "hubbub.knowledge.memory",
        "hubbub.network.hub",
        "hubbub.network.client.session",
        "hubbub.network.transport.local",
        "socket",
        "hubbub.knowledge_extra",
        "hubbub.network.hub.core",
    }
    assert "os" not in flagged
    # ``from . import ids`` resolves against the file's package.
    assert "hubbub.network.transport.ids" not in flagged
    assert any(i.module == "hubbub.network.transport.ids" for i in imported_modules(path))


def test_checker_accepts_lookalike_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "SRC", tmp_path)
    path = _write(tmp_path, GOOD_SOURCE)
    assert violations(path) == []


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("asyncio", True),
        ("asyncio.locks", True),
        ("asyncio_extras", False),
        ("time", True),
        ("timeit", False),
        ("datetime", True),
        ("hubbub.knowledge", True),
        ("hubbub.knowledge.sqlite", True),
        ("hubbub.network.hub", True),
        ("hubbub.network.hub.post", True),
        ("hubbub.network.hubris", False),
        ("hubbub.network.client", True),
        ("hubbub.network.transport.local", True),
        ("hubbub.network.protocol.frames", False),
        ("hubbub.network.envelope", False),
        ("orjson", False),
    ],
)
def test_is_forbidden(module: str, forbidden: bool) -> None:
    assert is_forbidden(module) is forbidden
