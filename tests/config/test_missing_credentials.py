"""A missing provider key fails the first call with a ProviderError naming the variable to set.

Without the check the Anthropic SDK fails the request with a bare ``TypeError`` and the
OpenAI SDK with its own wording; neither names hubbub's config nor sends anything.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.fakes import FakeAnthropicServer, FakeOpenAIServer

from hubbub import Agent
from hubbub.config import AnthropicConfig, OpenAIConfig
from hubbub.config.errors import MissingCredentialsError, ProviderError

_ENV = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_CONFIG_DIR",
    "ANTHROPIC_CUSTOM_HEADERS",
    "ANTHROPIC_PROFILE",
    "OPENAI_API_KEY",
    "OPENAI_ADMIN_KEY",
    "OPENAI_BASE_URL",
)


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    # No profile on disk either (the SDK looks under the user's config directory).
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


async def test_missing_anthropic_key_names_the_variable(
    anthropic_server: FakeAnthropicServer,
) -> None:
    config = AnthropicConfig(model="claude-test", base_url=anthropic_server.url)
    with pytest.raises(ProviderError, match="ANTHROPIC_API_KEY") as info:
        await Agent("a", config=config).ask("hi")
    assert isinstance(info.value, MissingCredentialsError)
    assert info.value.variable == "ANTHROPIC_API_KEY"
    assert (info.value.provider, info.value.model) == ("anthropic", "claude-test")
    assert anthropic_server.requests == []  # failed before sending anything


async def test_missing_anthropic_key_on_the_default_endpoint_names_the_variable() -> None:
    with pytest.raises(MissingCredentialsError, match="ANTHROPIC_API_KEY"):
        await Agent("a", config=AnthropicConfig(model="claude-test")).ask("hi")


async def test_anthropic_key_from_the_environment_or_a_token_is_enough(
    anthropic_server: FakeAnthropicServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    anthropic_server.add("one", "two")
    config = AnthropicConfig(model="claude-test", base_url=anthropic_server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key")
    assert (await Agent("a", config=config).ask("hi")).body == "one"
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "env-token")
    assert (await Agent("a", config=config.copy()).ask("hi")).body == "two"


async def test_missing_openai_key_names_the_variable() -> None:
    with pytest.raises(ProviderError, match="OPENAI_API_KEY") as info:
        await Agent("a", config=OpenAIConfig(model="gpt-test")).ask("hi")
    assert isinstance(info.value, MissingCredentialsError)
    assert info.value.variable == "OPENAI_API_KEY"


async def test_openai_compatible_server_needs_no_key(openai_server: FakeOpenAIServer) -> None:
    openai_server.add("local")
    config = OpenAIConfig(model="llama", base_url=openai_server.url)
    assert (await Agent("a", config=config).ask("hi")).body == "local"
