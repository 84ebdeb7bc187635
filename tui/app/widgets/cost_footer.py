"""One line of figures: the model, tokens in and out, tokens/s, this reply's cost, the session's.

While a reply streams the counts are estimates (marked `~`) until the provider's own figures
arrive. A cost nobody knows reads "unpriced", never $0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual.app import RenderResult
from textual.content import Content
from textual.widget import Widget

from tui.core.display import format_cost, format_tokens


@dataclass(frozen=True)
class Figures:
    model_id: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    estimated: bool = False
    tokens_per_second: float | None = None
    reply_cost: float | None = None
    reply_priced: bool = False  # False: no reply yet, or the reply is unpriced
    has_reply: bool = False
    session_cost: float = 0.0
    session_unpriced: int = 0
    streaming: bool = False
    note: str = ""  # e.g. "retrying in 2.0 s (429)"


class CostFooter(Widget):
    DEFAULT_CSS = """
    CostFooter {
        height: 1;
        width: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.figures = Figures()

    def show(self, figures: Figures) -> None:
        self.figures = figures
        self.refresh()

    def update_figures(self, **changes: object) -> None:
        self.figures = replace(self.figures, **changes)  # type: ignore[arg-type]
        self.refresh()

    def parts(self) -> list[tuple[int, Content]]:
        """(priority, part): when the line is too narrow the highest numbers go first."""
        f = self.figures
        est = "~" if f.estimated else ""
        parts: list[tuple[int, Content]] = []
        if f.model_id:
            parts.append((0, Content.styled(f.model_id, "bold")))
        if f.has_reply or f.streaming:
            tokens = (
                f"{est}{format_tokens(f.prompt_tokens)} in "
                f"{est}{format_tokens(f.completion_tokens)} out"
            )
            parts.append((1, Content(tokens)))
            if f.tokens_per_second is not None:
                parts.append((3, Content(f"{f.tokens_per_second:.1f} tok/s")))
            if not f.streaming:
                cost = format_cost(f.reply_cost if f.reply_priced else None)
                parts.append((2, Content(f"reply {cost}")))
        if f.session_unpriced and not f.session_cost:
            parts.append((0, Content("session unpriced")))
        else:
            parts.append((0, Content(f"session {format_cost(f.session_cost)}")))
            if f.session_unpriced:
                parts.append((4, Content(f"+{f.session_unpriced} unpriced")))
        if f.note:
            parts.append((1, Content.styled(f.note, "$warning")))
        return parts

    def render_content(self, width: int | None = None) -> Content:
        parts = self.parts()
        separator = Content(" · ")
        line = separator.join([p for _, p in parts])
        while width is not None and line.cell_length > width and len(parts) > 1:
            worst = max(range(len(parts)), key=lambda i: (parts[i][0], i))
            if parts[worst][0] == 0:
                break
            del parts[worst]
            line = separator.join([p for _, p in parts])
        return line

    def text(self) -> str:
        """The line as plain text (what tests read)."""
        return self.render_content().plain

    def render(self) -> RenderResult:
        width = self.content_region.width if self.is_mounted else None
        return self.render_content(width or None)
