"""Cost of a reply: genai-prices' bundled tables, config overrides, local models free."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Any

import pytest

from tui.config import Price
from tui.core.pricing import price_per_million, price_reply
from tui.core.session import Usage


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prices come from bundled data: any attempt to connect fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("pricing tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


USAGE = Usage(prompt_tokens=1000, completion_tokens=500)


def test_deepseek_chat_is_priced() -> None:
    cost = price_reply("deepseek:deepseek-chat", USAGE, {})
    assert cost is not None
    assert cost.currency == "USD"
    assert cost.input_cost is not None and cost.input_cost > 0
    assert cost.output_cost is not None and cost.output_cost > 0
    assert cost.total_cost == pytest.approx(cost.input_cost + cost.output_cost)
    assert isinstance(cost.total_cost, float)


def test_priced_at_a_given_time() -> None:
    when = datetime(2025, 3, 1, 12, tzinfo=UTC)
    assert price_reply("deepseek:deepseek-chat", USAGE, {}, when) is not None
    naive = datetime(2025, 3, 1, 12)
    assert price_reply("deepseek:deepseek-chat", USAGE, {}, naive) is not None


def test_cached_tokens_cost_less() -> None:
    plain = price_reply(
        "deepseek:deepseek-chat", Usage(prompt_tokens=10_000, completion_tokens=0), {}
    )
    cached = price_reply(
        "deepseek:deepseek-chat",
        Usage(prompt_tokens=10_000, completion_tokens=0, cached_tokens=8_000),
        {},
    )
    assert plain is not None and cached is not None
    assert plain.total_cost is not None and cached.total_cost is not None
    assert cached.total_cost < plain.total_cost


@pytest.mark.parametrize(
    "model_id", ["deepseek:no-such-model-xyz", "lab:qwen", "nobody:gpt-4.1", "openai:"]
)
def test_unknown_is_unpriced_not_zero(model_id: str) -> None:
    assert price_reply(model_id, USAGE, {}) is None
    assert price_per_million(model_id, {}) is None


def test_unknown_token_counts_are_unpriced() -> None:
    assert price_reply("deepseek:deepseek-chat", Usage(), {}) is None


def test_config_price_wins() -> None:
    prices = {"deepseek:deepseek-chat": Price(input=1.0, output=2.0)}
    cost = price_reply("deepseek:deepseek-chat", USAGE, prices)
    assert cost is not None
    assert cost.input_cost == pytest.approx(0.001)
    assert cost.output_cost == pytest.approx(0.001)
    assert cost.total_cost == pytest.approx(0.002)
    assert price_per_million("deepseek:deepseek-chat", prices) == (1.0, 2.0)


def test_config_price_cached_input_and_plain_dicts() -> None:
    prices = {"lab:q": {"input": 2.0, "output": 4.0, "cached_input": 1.0}}
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=0, cached_tokens=500_000)
    cost = price_reply("lab:q", usage, prices)
    assert cost is not None and cost.total_cost == pytest.approx(1.5)


def test_config_price_can_price_a_local_model() -> None:
    prices = {"ollama:big": Price(input=0.5, output=0.5)}
    cost = price_reply("ollama:big", Usage(prompt_tokens=2_000_000, completion_tokens=0), prices)
    assert cost is not None and cost.total_cost == pytest.approx(1.0)


def test_local_models_are_free() -> None:
    cost = price_reply("ollama:llama3.2", USAGE, {})
    assert cost is not None and cost.total_cost == 0.0 and cost.input_cost == 0.0
    # a local server that never reports usage is still free
    assert price_reply("ollama:llama3.2", Usage(), {}) is not None
    lab = price_reply("lab:q", USAGE, {}, base_url="http://127.0.0.1:8080/v1")
    assert lab is not None and lab.total_cost == 0.0
    assert price_per_million("lab:q", {}, base_url="http://localhost:8080/v1") == (0.0, 0.0)
    assert price_per_million("ollama:x", {}) == (0.0, 0.0)


def test_custom_provider_on_a_known_host_is_priced() -> None:
    got = price_per_million("proxy:gpt-4o-mini", {}, base_url="https://api.openai.com/v1")
    assert got is not None and got[0] > 0


def test_reported_cost_is_the_total() -> None:
    cost = price_reply("openrouter:openai/gpt-4o-mini", USAGE, {}, reported_cost_usd=0.0123)
    assert cost is not None and cost.total_cost == 0.0123


def test_price_per_million() -> None:
    got = price_per_million("openai:gpt-4o-mini", {})
    assert got is not None
    assert got[0] > 0 and got[1] > got[0]
