"""`liu models`: every model liu knows of, whether its key is set, and what it costs."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tui.core.errors import ConfigError

if TYPE_CHECKING:
    from tui.config import Settings
    from tui.providers.registry import ModelInfo, Provider

DISCOVERY_TIMEOUT = 1.5


@dataclass(frozen=True)
class Row:
    info: ModelInfo
    price: tuple[float, float] | None
    key_note: str


async def _discover(found: list[Provider]) -> dict[str, list[str]]:
    """Ask the servers that list their models, all at once, each with a short timeout."""
    import httpx

    from tui.providers.events import Endpoint
    from tui.providers.registry import discover_models, provider_endpoint

    endpoints: list[Endpoint] = []
    for p in found:
        try:
            endpoints.append(provider_endpoint(p))
        except ConfigError:  # a failing api_key_cmd: ask without a key
            endpoints.append(Endpoint(p.name, p.kind, p.base_url, headers=dict(p.headers)))
    import asyncio

    async with httpx.AsyncClient() as client:
        lists = await asyncio.gather(
            *(discover_models(e, client, DISCOVERY_TIMEOUT) for e in endpoints)
        )
    return {e.provider: ids for e, ids in zip(endpoints, lists, strict=True)}


def _key_note(p: Provider, info: ModelInfo) -> str:
    if p.api_key_env:
        return f"key: {p.api_key_env} {'set' if info.key_present else 'missing'}"
    if p.api_key_cmd:
        return "key: api_key_cmd"
    return "no key needed"


def collect(settings: Settings, discover: bool = True) -> list[Row]:
    """Configured models, then models that local servers list, each with its price."""
    from tui.core.pricing import price_per_million
    from tui.providers.registry import ModelInfo, configured_models, discoverable, providers

    known = providers(settings)
    infos = configured_models(settings)
    found = discoverable(settings)
    if discover and found:
        import asyncio

        seen = {i.model_id for i in infos}
        for name, ids in asyncio.run(_discover(found)).items():
            p = known[name]
            for model in ids:
                model_id = f"{name}:{model}"
                if model_id not in seen:
                    seen.add(model_id)
                    infos.append(
                        ModelInfo(model_id, name, True, p.api_key_env, p.local, "discovered")
                    )
    rows = []
    for info in infos:
        p = known[info.provider]
        price = price_per_million(info.model_id, settings.prices, base_url=p.base_url)
        rows.append(Row(info, price, _key_note(p, info)))
    return rows


def _money(x: float) -> str:
    return f"${x:.2f}" if x == round(x, 2) else f"${x:.4g}"


def _price_text(row: Row) -> str:
    if row.price is None:
        return "unpriced"
    if row.price == (0.0, 0.0) and row.info.local:
        return "free (local)"
    return f"{_money(row.price[0])} in / {_money(row.price[1])} out per M"


def _as_json(row: Row) -> dict[str, Any]:
    return {
        "model_id": row.info.model_id,
        "provider": row.info.provider,
        "key_present": row.info.key_present,
        "key_env": row.info.key_env,
        "input_per_million": row.price[0] if row.price else None,
        "output_per_million": row.price[1] if row.price else None,
        "source": row.info.source,
    }


def run(args: argparse.Namespace) -> int:
    from tui.config import load_settings

    try:
        settings = load_settings()
        rows = collect(settings, discover=not getattr(args, "offline", False))
    except ConfigError as e:
        print(f"liu: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([_as_json(r) for r in rows], indent=2))
        return 0
    width = max((len(r.info.model_id) for r in rows), default=0)
    price_width = max((len(_price_text(r)) for r in rows), default=0)
    for r in rows:
        mark = "*" if r.info.model_id == settings.default_model else " "
        extra = "  (discovered)" if r.info.source == "discovered" else ""
        line = f"{mark} {r.info.model_id:<{width}}  {_price_text(r):<{price_width}}  {r.key_note}"
        print(line + extra)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list models, their keys and prices",
        description="List every configured model, whether its API key is set, and its price "
        "per million tokens. Servers on this machine (Ollama, ...) are asked for their models.",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.add_argument(
        "--offline", action="store_true", help="do not ask local servers for their models"
    )
    parser.set_defaults(run=run)
