"""What a reply cost: config prices first, then genai-prices' bundled tables.

A model nobody prices gets `None` (unpriced), never $0: a made-up zero would hide real
spending. Local servers are free and get 0.0. genai-prices is imported only here, inside the
functions (it is slow to import), and its network update is never started.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tui.config import Price
from tui.core.session import Cost, Usage

# Our provider names -> genai-prices provider ids (others are matched by base URL, if at all).
GENAI_PROVIDER_IDS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "deepseek": "deepseek",
    "gemini": "google",
    "openrouter": "openrouter",
    "groq": "groq",
    "mistral": "mistral",
    "xai": "x-ai",
}
_LOCAL_PROVIDERS = {"ollama", "local"}
_MILLION = 1_000_000


def _is_local(provider: str, base_url: str | None) -> bool:
    from tui.providers.registry import is_local_url

    return provider in _LOCAL_PROVIDERS or (base_url is not None and is_local_url(base_url))


def _split(model_id: str) -> tuple[str, str]:
    provider, _, model = model_id.partition(":")
    return provider, model


def _as_price(value: Price | Mapping[str, Any]) -> Price:
    return value if isinstance(value, Price) else Price.model_validate(value)


def _genai_calc(
    provider: str,
    model: str,
    base_url: str | None,
    input_tokens: int,
    output_tokens: int,
    cached_tokens: int,
    when: datetime | None,
) -> tuple[float, float] | None:
    """(input, output) in USD from genai-prices, or None when it does not know the model."""
    import genai_prices

    provider_id = GENAI_PROVIDER_IDS.get(provider)
    if provider_id is None and not base_url:
        return None
    if when is not None and when.tzinfo is None:
        when = when.astimezone(UTC)
    usage = genai_prices.Usage(
        input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached_tokens
    )
    try:
        if provider_id is not None:
            calc = genai_prices.calc_price(
                usage, model, provider_id=provider_id, genai_request_timestamp=when
            )
        else:  # a custom provider, perhaps on a host genai-prices knows
            calc = genai_prices.calc_price(
                usage, model, provider_api_url=base_url, genai_request_timestamp=when
            )
    except (LookupError, ValueError, TypeError, ArithmeticError):
        return None
    return float(calc.input_price), float(calc.output_price)


def price_reply(
    model_id: str,
    usage: Usage,
    settings_prices: Mapping[str, Price | Mapping[str, Any]],
    when: datetime | None = None,
    *,
    reported_cost_usd: float | None = None,
    base_url: str | None = None,
) -> Cost | None:
    """The cost of one reply, or None if unpriced.

    `reported_cost_usd` (OpenRouter says what a reply cost) becomes the total when given;
    `base_url` lets a custom provider on this machine count as free. Unknown token counts
    cannot be priced (None), except on a local server, which is always free.
    """
    provider, model = _split(model_id)
    if reported_cost_usd is not None:
        return Cost(total_cost=float(reported_cost_usd))
    if _is_local(provider, base_url) and model_id not in settings_prices:
        return Cost(input_cost=0.0, output_cost=0.0, total_cost=0.0)
    if usage.prompt_tokens is None or usage.completion_tokens is None:
        return None
    prompt, completion = usage.prompt_tokens, usage.completion_tokens
    cached = min(usage.cached_tokens or 0, prompt)
    override = settings_prices.get(model_id)
    if override is not None:
        price = _as_price(override)
        cached_rate = price.cached_input if price.cached_input is not None else price.input
        input_cost = ((prompt - cached) * price.input + cached * cached_rate) / _MILLION
        output_cost = completion * price.output / _MILLION
    else:
        got = _genai_calc(provider, model, base_url, prompt, completion, cached, when)
        if got is None:
            return None
        input_cost, output_cost = got
    return Cost(input_cost=input_cost, output_cost=output_cost, total_cost=input_cost + output_cost)


def price_per_million(
    model_id: str,
    settings_prices: Mapping[str, Price | Mapping[str, Any]],
    *,
    base_url: str | None = None,
    when: datetime | None = None,
) -> tuple[float, float] | None:
    """(input, output) USD per million tokens for display; None if unpriced."""
    override = settings_prices.get(model_id)
    if override is not None:
        price = _as_price(override)
        return price.input, price.output
    provider, model = _split(model_id)
    if _is_local(provider, base_url):
        return 0.0, 0.0
    # Priced on a thousand tokens, then scaled: a million would hit long-context tiers.
    per_k_in = _genai_calc(provider, model, base_url, 1000, 0, 0, when)
    per_k_out = _genai_calc(provider, model, base_url, 0, 1000, 0, when)
    if per_k_in is None or per_k_out is None:
        return None
    return round(per_k_in[0] * 1000, 6), round(per_k_out[1] * 1000, 6)
