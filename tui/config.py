"""Settings: a TOML file (`liu config path`) under `LIU_*` environment variables.

Loading is all or nothing: a broken file or a bad value raises one `ConfigError` line that
names the file, the line or the key, so the app never runs on half a config. API keys are
never part of the settings: they come from the environment or from `api_key_cmd`.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from tui import paths
from tui.core.errors import ConfigError

GENERAL_ASSISTANT_ID = "general-assistant"
ENV_PREFIX = "LIU_"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Set while validating what a file would hold, so the environment does not mask a bad value.
_FILE_ONLY: ContextVar[bool] = ContextVar("liu_config_file_only", default=False)


class ProviderSettings(BaseModel):
    """`[providers.NAME]`: a field left unset keeps the preset's value (if NAME is a preset)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["openai", "anthropic", "ollama", "local"] | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    api_key_cmd: str | None = None
    # A list of model names; for `local`, a table of name = "path/to/file.gguf".
    models: list[str] | dict[str, str] | None = None
    models_dir: str | None = None  # `local`: every *.gguf in this folder is a model
    n_ctx: int | None = Field(default=None, ge=256)  # `local`: context window in tokens
    n_threads: int | None = Field(default=None, ge=1)  # `local`: CPU threads
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/") if value else value

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        # Catches the common slip of pasting the key itself here; the value is never echoed.
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(
                "api_key_env names an environment variable (e.g. OPENAI_API_KEY), not the key"
            )
        return value


class Assistant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    name: str = ""
    system_prompt: str = ""
    model: str = ""  # empty: the default model

    @model_validator(mode="after")
    def _name(self) -> Assistant:
        if not self.name:
            self.name = self.id
        return self


class Price(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)


def general_assistant() -> Assistant:
    return Assistant(
        id=GENERAL_ASSISTANT_ID,
        name="General assistant",
        system_prompt="You are a helpful assistant.",
    )


class Settings(BaseSettings):
    """The effective settings: defaults, then the file, then `LIU_*` variables on top."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    default_model: str = ""  # empty: chosen automatically later
    default_assistant: str = GENERAL_ASSISTANT_ID
    theme: str = "textual-dark"
    low_bandwidth: bool = False
    mouse: bool = True
    read_timeout: float = Field(default=60.0, gt=0)
    checkpoint_interval: float = Field(default=1.0, gt=0)
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    assistants: list[Assistant] = Field(default_factory=list)
    prices: dict[str, Price] = Field(default_factory=dict)
    keys: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's contents arrive as init kwargs; the environment must win over them.
        if _FILE_ONLY.get():
            return (init_settings,)
        return (env_settings, init_settings)

    @field_validator("default_model")
    @classmethod
    def _model_id(cls, value: str) -> str:
        provider, _, model = value.partition(":")
        if value and not (provider and model):
            raise ValueError("expected provider:model, e.g. openai:gpt-4.1")
        return value

    @field_validator("prices")
    @classmethod
    def _price_keys(cls, value: dict[str, Price]) -> dict[str, Price]:
        for key in value:
            provider, _, model = key.partition(":")
            if not (provider and model):
                raise ValueError(f"price key {key!r} should be provider:model")
        return value

    @model_validator(mode="after")
    def _assistants(self) -> Settings:
        ids = [a.id for a in self.assistants]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"assistants: duplicate id {dupes[0]!r}")
        if GENERAL_ASSISTANT_ID not in ids:
            self.assistants.insert(0, general_assistant())
            ids.insert(0, GENERAL_ASSISTANT_ID)
        if self.default_assistant not in ids:
            raise ValueError(
                f"default_assistant: no assistant {self.default_assistant!r}"
                + _did_you_mean(self.default_assistant, ids)
            )
        return self

    def assistant(self, assistant_id: str) -> Assistant | None:
        return next((a for a in self.assistants if a.id == assistant_id), None)


# ---------------------------------------------------------------------------- loading


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def _read_toml(path: Path) -> dict[str, Any]:
    """The file as a dict; {} when it does not exist."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as e:
        # Python 3.11 puts the position only in the message: "... (at line 12, column 5)".
        text = str(e)
        m = re.search(r"\s*\(at line (\d+), column \d+\)$", text)
        if m:
            raise ConfigError(f"{path}:{m.group(1)}: {text[: m.start()]}") from None
        raise ConfigError(f"{path}: {text}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None


_MODEL_FOR_TABLE: dict[str, type[BaseModel]] = {
    "providers": ProviderSettings,
    "assistants": Assistant,
    "prices": Price,
}


def _known_fields(loc: tuple[str | int, ...]) -> list[str]:
    """Field names valid beside the unknown key at `loc`, for "did you mean"."""
    if len(loc) == 1:
        return list(Settings.model_fields)
    table = _MODEL_FOR_TABLE.get(str(loc[0]))
    return list(table.model_fields) if table and len(loc) == 3 else []


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + (part if re.fullmatch(r"[\w-]+", part) else f'"{part}"')
    return out


def _env_var_for(loc: tuple[str | int, ...]) -> str | None:
    """The LIU_* variable a bad value came from, if it did not come from the file."""
    if not loc or not isinstance(loc[0], str):
        return None
    prefix = (ENV_PREFIX + loc[0]).upper()
    for name in os.environ:
        upper = name.upper()
        if upper == prefix or upper.startswith(prefix + "__"):
            return name
    return None


def _explain(error: ValidationError, source: str, file_data: dict[str, Any]) -> str:
    """One line for the first problem: where, which key, what is wrong (never the value)."""
    problems = error.errors()
    first = problems[0]
    loc = tuple(first["loc"])
    key = _dotted(loc)
    if first["type"] == "extra_forbidden":
        name = str(loc[-1])
        if name in ("api_key", "key", "token"):
            msg = "unknown key; API keys are read from the environment (api_key_env) or api_key_cmd"
        else:
            msg = "unknown key" + _did_you_mean(name, _known_fields(loc))
    elif first["type"] == "missing":
        msg = "missing"
    else:
        msg = str(first["msg"]).removeprefix("Value error, ")
    env_var = _env_var_for(loc) if loc and loc[0] not in file_data else None
    where = env_var or source
    line = f"{where}: {key}: {msg}" if key else f"{where}: {msg}"
    if len(problems) > 1:
        line += f" (and {len(problems) - 1} more)"
    return line


def load_settings(path: Path | None = None) -> Settings:
    """Read the config file (missing is fine) and the environment; raise ConfigError if bad."""
    path = path or paths.config_file()
    data = _read_toml(path)
    try:
        return Settings(**data)
    except ValidationError as e:
        raise ConfigError(_explain(e, str(path), data)) from None
    except SettingsError as e:
        raise ConfigError(f"environment: {e}") from None


def validate_file_data(data: dict[str, Any], source: str = "config") -> Settings:
    """Validate what a file would hold, ignoring the environment."""
    token = _FILE_ONLY.set(True)
    try:
        return Settings(**data)
    except ValidationError as e:
        raise ConfigError(_explain(e, source, data)) from None
    finally:
        _FILE_ONLY.reset(token)


# ---------------------------------------------------------------------------- saving


def _write_private(path: Path, text: str) -> None:
    """Atomic replace; the file is 0600, and a folder we create (or our own) is 0700."""
    if path.is_symlink():  # a dotfiles link: write through it, keep the link
        path = path.resolve()
    folder = path.parent
    if not folder.exists() or folder == paths.config_dir():
        paths.ensure_private_dir(folder)
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".tmp", dir=folder)  # 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    path.chmod(0o600)


def _dump(data: dict[str, Any]) -> str:
    import tomli_w

    return tomli_w.dumps(data)


def _file_form(settings: Settings) -> dict[str, Any]:
    data = settings.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    assistants = data.get("assistants", [])
    # The built-in assistant is implied; writing it out would freeze its prompt.
    if assistants and settings.assistants[0] == general_assistant():
        data["assistants"] = assistants[1:]
        if not data["assistants"]:
            del data["assistants"]
    return data


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write `settings` as the whole file (values that equal the defaults are left out)."""
    path = path or paths.config_file()
    _write_private(path, _dump(_file_form(settings)))
    return path


def split_key_path(key_path: str) -> list[str]:
    """`providers.lab.base_url` -> parts; quotes protect dots: `prices."lab:qwen2.5".input`."""
    parts: list[str] = []
    for m in re.finditer(r'"([^"]*)"|\'([^\']*)\'|([^.]+)', key_path):
        parts.append(next(g for g in m.groups() if g is not None))
    if not parts or ".." in key_path or key_path.startswith(".") or key_path.endswith("."):
        raise ConfigError(f"bad key {key_path!r}: expected e.g. providers.lab.base_url")
    # A price key is provider:model and model ids often hold dots: rejoin them.
    if parts[0] == "prices" and len(parts) > 2:
        if parts[-1] in Price.model_fields:
            parts = [parts[0], ".".join(parts[1:-1]), parts[-1]]
        else:
            parts = [parts[0], ".".join(parts[1:])]
    return parts


def parse_value(text: str) -> Any:
    """`true`/`false`, numbers and TOML arrays become values; anything else stays a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def set_value(key_path: str, value: str, path: Path | None = None) -> Settings:
    """`liu config set KEY VALUE`: change one key in the file, keep the rest, validate first.

    Returns the settings the file now holds (without the environment on top).
    """
    path = path or paths.config_file()
    data = _read_toml(path)
    parts = split_key_path(key_path)
    table = data
    for i, part in enumerate(parts[:-1]):
        child = table.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{path}: {'.'.join(parts[: i + 1])} is not a table")
        table = child
    last = parts[-1]
    parsed = parse_value(value)
    table[last] = parsed
    try:
        settings = validate_file_data(data, str(path))
    except ConfigError as first_error:
        retry_as_text = parsed != value
        if retry_as_text:
            table[last] = value  # "2024" may be meant as text: try the string as written
            try:
                settings = validate_file_data(data, str(path))
            except ConfigError:
                retry_as_text = False
        if not retry_as_text:
            raise ConfigError(f"{first_error} (file left unchanged)") from None
    _write_private(path, _dump(data))
    return settings


# ---------------------------------------------------------------------------- showing

_SECRET_NAME = re.compile(r"(api_?key|token|secret|passw(or)?d|authorization|cookie|auth)", re.I)
_SECRET_VALUE = re.compile(r"^(sk-|Bearer\s|Basic\s|xai-|gsk_|AIza)", re.I)
REDACTED = "<hidden>"


def _env_secrets() -> set[str]:
    """Values of environment variables that look like they hold keys."""
    return {
        v
        for k, v in os.environ.items()
        if len(v) >= 8 and re.search(r"(KEY|TOKEN|SECRET|PASSWORD)", k, re.I)
    }


def _redact(value: Any, name: str, secrets: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _redact(v, k, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, name, secrets) for v in value]
    if isinstance(value, str):
        named_secret = _SECRET_NAME.search(name) and name not in ("api_key_env", "api_key_cmd")
        if named_secret or _SECRET_VALUE.match(value) or any(s in value for s in secrets):
            return REDACTED
    return value


def show_settings(settings: Settings) -> str:
    """The effective settings as TOML with anything secret-looking replaced by <hidden>."""
    data = settings.model_dump(mode="json", exclude_none=True)
    data = _redact(data, "", _env_secrets())
    return _dump(data)
