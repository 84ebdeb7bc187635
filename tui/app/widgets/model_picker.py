"""Ctrl+O: pick the model for the next reply, with a fuzzy filter.

Rows are the configured and preset models, then whatever local servers list. Each shows its
price per million tokens in and out (or "unpriced") and whether its key is set. Prices come
from genai-prices, which is slow to import: they are worked out in a thread after the picker
is on screen.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.fuzzy import Matcher
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    import httpx

    from tui.config import Settings

PENDING = "…"


@dataclass(frozen=True)
class ModelRow:
    model_id: str
    key_present: bool
    key_env: str | None
    local: bool
    price: tuple[float, float] | str | None = PENDING  # (in, out) per million; str = pending

    def price_text(self) -> str:
        if isinstance(self.price, str):
            return self.price
        if self.price is None:
            return "unpriced"
        return f"${_num(self.price[0])} / ${_num(self.price[1])}"

    def key_text(self, short: bool = False) -> str:
        if self.local:
            return "local"
        if self.key_present:
            return "key set"
        if short or not self.key_env:
            return "no key"
        return f"set {self.key_env}"


def _num(value: float) -> str:
    return f"{value:.2f}" if value >= 0.01 or value == 0 else f"{value:.4f}".rstrip("0")


def rows_from_settings(settings: Settings) -> list[ModelRow]:
    from tui.providers import registry

    return [
        ModelRow(m.model_id, m.key_present, m.key_env, m.local)
        for m in registry.configured_models(settings)
    ]


class ModelPicker(ModalScreen[str | None]):
    """Returns the chosen `provider:model`, or None when dismissed."""

    DEFAULT_CSS = """
    ModelPicker {
        align: center middle;
    }
    ModelPicker > Vertical {
        width: 100%;
        max-width: 100;
        height: 80%;
    }
    ModelPicker OptionList {
        height: 1fr;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    BINDINGS = [
        Binding("escape", "dismiss_picker", "Close", id="picker_close"),
        Binding("down", "move(1)", "Down", id="picker_down", show=False),
        Binding("up", "move(-1)", "Up", id="picker_up", show=False),
    ]

    def __init__(
        self,
        settings: Settings,
        current: str,
        client: httpx.AsyncClient | None = None,
        rows: list[ModelRow] | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.current = current
        self.client = client
        self.rows = rows if rows is not None else rows_from_settings(settings)
        if current and all(r.model_id != current for r in self.rows):
            self.rows.insert(0, ModelRow(current, True, None, False))
        self._shown: list[ModelRow] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Label(
                Content.assemble(
                    "Model for the next reply",
                    Content.styled("  (USD per million tokens in / out)", "$text-muted"),
                ),
                id="picker-title",
            )
            yield Input(placeholder="type to filter", id="picker-filter")
            yield OptionList(id="picker-rows")

    def on_mount(self) -> None:
        self.refresh_rows()
        self.query_one("#picker-filter", Input).focus()
        self._load_prices()
        if self.client is not None:
            self._discover()

    # ------------------------------------------------------------ rows

    def _content(self, row: ModelRow, width: int, matcher: Matcher | None) -> Content:
        name = matcher.highlight(row.model_id) if matcher else Content(row.model_id)
        if row.model_id == self.current:
            name = Content.assemble(name, " ✓")
        pad = max(1, width - name.cell_length + 1)
        price = Content.styled(row.price_text().ljust(16), "$text-muted")
        key_style = "$success" if (row.key_present or row.local) else "$warning"
        key = Content.styled(row.key_text(short=self.size.width < 100), key_style)
        return Content.assemble(name, " " * pad, price, " ", key)

    def refresh_rows(self) -> None:
        query = self.query_one("#picker-filter", Input).value.strip()
        matcher = Matcher(query) if query else None
        if matcher is None:
            shown = list(self.rows)
        else:
            scored = [(matcher.match(r.model_id), i, r) for i, r in enumerate(self.rows)]
            shown = [r for score, _, r in sorted(scored, key=lambda t: (-t[0], t[1])) if score > 0]
        self._shown = shown
        width = max((len(r.model_id) for r in self.rows), default=10) + 2
        options = self.query_one("#picker-rows", OptionList)
        keep = options.highlighted_option.id if options.highlighted_option else None
        options.set_options(
            [Option(self._content(r, width, matcher), id=r.model_id) for r in shown]
        )
        ids = [r.model_id for r in shown]
        if matcher is not None:
            options.highlighted = 0 if shown else None
        elif keep in ids:
            options.highlighted = ids.index(keep)
        elif self.current in ids:
            options.highlighted = ids.index(self.current)
        else:
            options.highlighted = 0 if shown else None

    @work(thread=True, exclusive=True, group="picker-prices")
    def _load_prices(self) -> None:
        from tui.core import pricing
        from tui.providers import registry

        priced: list[ModelRow] = []
        for row in self.rows:
            base_url = None
            try:
                provider = registry.get_provider(row.model_id.partition(":")[0], self.settings)
                base_url = provider.base_url if provider.source == "config" else None
            except Exception:
                provider = None
            try:
                price = pricing.price_per_million(
                    row.model_id, self.settings.prices, base_url=base_url
                )
            except Exception:
                price = None
            priced.append(replace(row, price=price))
        self.app.call_from_thread(self._set_rows, priced)

    def _set_rows(self, rows: list[ModelRow]) -> None:
        known = {r.model_id for r in rows}
        # Rows discovered meanwhile keep their place at the end.
        self.rows = rows + [r for r in self.rows if r.model_id not in known]
        self.refresh_rows()

    @work(exclusive=True, group="picker-discover")
    async def _discover(self) -> None:
        from tui.providers import registry

        assert self.client is not None
        found: list[ModelRow] = []
        for provider in registry.discoverable(self.settings):
            endpoint = registry.provider_endpoint(provider)
            for name in await registry.discover_models(endpoint, self.client, timeout=1.0):
                found.append(ModelRow(f"{provider.name}:{name}", True, None, True, (0.0, 0.0)))
        known = {r.model_id for r in self.rows}
        new = [r for r in found if r.model_id not in known]
        if new:
            self.rows = self.rows + new
            self.refresh_rows()

    # ------------------------------------------------------------ choosing

    @on(Input.Changed, "#picker-filter")
    def _filter(self) -> None:
        self.refresh_rows()

    @on(Input.Submitted, "#picker-filter")
    def _submit(self) -> None:
        option = self.query_one("#picker-rows", OptionList).highlighted_option
        if option is not None and option.id:
            self.dismiss(option.id)

    @on(OptionList.OptionSelected, "#picker-rows")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.dismiss(event.option.id)

    def action_move(self, step: int) -> None:
        options = self.query_one("#picker-rows", OptionList)
        if step > 0:
            options.action_cursor_down()
        else:
            options.action_cursor_up()

    def action_dismiss_picker(self) -> None:
        self.dismiss(None)
