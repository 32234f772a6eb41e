"""Run a Python file that uses top-level ``await`` (as documentation snippets do)."""

from __future__ import annotations

import ast
import asyncio
import sys
import types


async def _run(path: str) -> None:
    source = open(path, encoding="utf-8").read()
    code = compile(source, path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    module = types.ModuleType("__seed__")
    result = eval(code, module.__dict__)
    if asyncio.iscoroutine(result):
        await result


if __name__ == "__main__":
    asyncio.run(_run(sys.argv[1]))
