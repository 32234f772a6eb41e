"""Run a Python file that uses top-level ``await`` (as documentation snippets do)."""

from __future__ import annotations

import ast
import asyncio
import sys
import types


async def _run(path: str, source: str) -> None:
    code = compile(source, path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    module = types.ModuleType("__seed__")
    result = eval(code, module.__dict__)
    if asyncio.iscoroutine(result):
        await result


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        text = fh.read()
    asyncio.run(_run(sys.argv[1], text))
