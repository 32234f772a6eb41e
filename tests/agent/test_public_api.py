"""Public surface and import hygiene."""

from __future__ import annotations

import subprocess
import sys

import hubbub


def test_top_level_exports() -> None:
    expected = {
        "Agent",
        "AgentReply",
        "Context",
        "Inject",
        "Variable",
        "Depends",
        "MemoryStream",
        "Plugin",
        "observer",
        "tool",
        "Toolkit",
        "ToolResult",
        "Task",
        "TaskSpec",
        "TaskInject",
        "TextInput",
        "DataInput",
        "__version__",
    }
    assert expected <= set(hubbub.__all__)
    assert all(hasattr(hubbub, n) for n in hubbub.__all__)
    assert hubbub.__version__ == "0.1.0"


def test_importing_hubbub_and_config_does_not_import_provider_sdks() -> None:
    code = (
        "import sys, hubbub, hubbub.config, hubbub.testing;"
        "print(any(m.split('.')[0] in ('anthropic', 'openai') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
