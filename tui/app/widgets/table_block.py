"""A markdown table drawn by one widget: no child per cell, no grid layout.

Textual's `MarkdownTable` mounts a grid with one `Static` (and a tooltip) per cell: a small
table costs a hundred milliseconds to mount and lay out, and new rows re-mount cells.
`TableBlock` is built by the same parser (it is a `MarkdownTable`, so the parser fills it
with header and row blocks), takes the cells' `Content` once, and draws the whole table
itself as a `Visual`:

     name  │ value │ note
    ───────┼───────┼──────────────────
     alpha │     1 │ a cell too long to
           │       │ fit wraps in its
           │       │ column

Column widths come from the cells' cell lengths (CJK is double width). When the table does
not fit, the widest columns shrink first and their text wraps inside the column; a row is as
tall as its tallest cell. Cells stay `Content` throughout (model text is never markup) and
keep the inline styles the parser gave them (bold, italic, code, links).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.app import ComposeResult
from textual.content import Content
from textual.strip import Strip
from textual.visual import RenderOptions, Visual
from textual.widgets._markdown import (
    Markdown,
    MarkdownBlock,
    MarkdownTable,
    MarkdownTD,
    MarkdownTH,
)

from tui.app.widgets.changed_rows import rendered_lines, repaint_changed_rows

if TYPE_CHECKING:
    from markdown_it.token import Token
    from textual.app import RenderResult
    from textual.css.styles import RulesMap
    from textual.geometry import Size
    from textual.selection import Selection
    from textual.style import Style

Align = Literal["left", "center", "right"]

HEADER = ".table-block--header"
"""Style (a component class of `TableBlock`) of the header cells."""
RULE = ".table-block--rule"
"""Style (a component class of `TableBlock`) of the column separators and the header rule."""

_EMPTY = Content("")
_SEPARATOR = Content.styled(" │ ", RULE)
_OVERHEAD_PER_COLUMN = 3
"""Cells other than text per column: one space either side, and a separator (or, for the
first and last columns, the left and right padding) shared between neighbours."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_TO_SPACE = {code: " " for code in (*range(0x20), 0x7F)}

# Lines are laid out to fit: render them as they are, no wrapping, no ellipsis.
_NO_WRAP: RulesMap = {"text_wrap": "nowrap", "text_overflow": "clip"}

_CACHED_WIDTHS = 4
_MIN_WRAP_WIDTH = 4
"""Narrower columns cut their text (with an ellipsis) rather than wrap it a letter a line."""


def _clean(cell: Content) -> Content:
    """One line of text: tabs, newlines and other control characters become spaces (one
    character for one, so the cell's style spans stay where they were)."""
    plain = cell.plain
    if _CONTROL.search(plain) is None:
        return cell
    return Content(plain.translate(_CONTROL_TO_SPACE), list(cell.spans))


def _same_cells(new: Sequence[Content], old: Sequence[Content]) -> bool:
    """Same text and same styles (`Content.__eq__` compares the text only)."""
    return len(new) == len(old) and all(
        a.plain == b.plain and list(a.spans) == list(b.spans) for a, b in zip(new, old, strict=True)
    )


def _align_of(block: MarkdownBlock) -> Align:
    """A column's alignment from its cell token (`style="text-align:right"`)."""
    style = str(block._token.attrs.get("style", ""))
    if "right" in style:
        return "right"
    if "center" in style:
        return "center"
    return "left"


def _column_aligns(table: MarkdownTable) -> list[Align]:
    """Alignments of a parsed (not yet consumed) table's columns, from its header cells."""
    aligns: list[Align] = []
    first_row: list[Align] = []
    stack: list[MarkdownBlock] = list(reversed(table._blocks))
    while stack:
        block = stack.pop()
        if isinstance(block, MarkdownTH):
            aligns.append(_align_of(block))
        elif isinstance(block, MarkdownTD):
            if aligns:
                break
            first_row.append(_align_of(block))
        else:
            stack.extend(reversed(block._blocks))
    return aligns or first_row


def _longest_word(text: str) -> int:
    """Cells a cell needs not to break a word: its longest word; text with double-width
    characters (CJK) may break between any two characters."""
    longest = 0
    for word in text.split():
        length = len(word)
        if length > longest:
            if not word.isascii() and cell_len(word) != length:
                length = 2
            longest = max(longest, length)
    return longest


def _fill(natural: Sequence[int], floor: Sequence[int], available: int) -> list[int]:
    """Shrink the widest columns first: every column is capped at the largest common width
    that fits, never below its floor; what the cap leaves over widens capped columns."""
    pairs = list(zip(natural, floor, strict=True))

    def total(cap: int) -> int:
        return sum(max(low, min(width, cap)) for width, low in pairs)

    low_cap, high_cap = 1, max(natural)
    while low_cap < high_cap:
        cap = (low_cap + high_cap + 1) // 2
        if total(cap) <= available:
            low_cap = cap
        else:
            high_cap = cap - 1
    widths = [max(low, min(width, low_cap)) for width, low in pairs]
    spare = available - sum(widths)
    for index, width in enumerate(natural):
        if spare <= 0:
            break
        if widths[index] < width:
            widths[index] += 1
            spare -= 1
    return widths


def fit_columns(natural: Sequence[int], minimum: Sequence[int], available: int) -> list[int]:
    """Column widths for `available` cells of text (all 1 if that is fewer than the columns).

    Columns that fit keep their natural width. Otherwise the widest shrink first, down to
    their longest word; if even the longest words do not fit, those shrink, widest first.
    """
    count = len(natural)
    if sum(natural) <= available:
        return list(natural)
    if available <= count:
        return [1] * count
    if sum(minimum) <= available:
        return _fill(natural, minimum, available)
    return _fill(minimum, [1] * count, available)


def _cell_lines(cell: Content, width: int, align: Align, wrap: bool = True) -> list[Content]:
    """A cell's text wrapped (or else cut) to its column, each line exactly `width` cells."""
    if cell.cell_length <= width:
        lines = [cell]
    elif wrap:
        lines = cell.wrap(width)
    else:
        lines = [cell.truncate(width, ellipsis=width > 1)]
    fitted: list[Content] = []
    for line in lines:
        length = line.cell_length
        if length > width:  # a double-width character in a one-cell column
            line = line.truncate(width)
            length = line.cell_length
        gap = width - length
        if not gap:
            fitted.append(line)
        elif align == "right":
            fitted.append(line.pad_left(gap))
        elif align == "center":
            fitted.append(line.pad(gap // 2, gap - gap // 2))
        else:
            fitted.append(line.pad_right(gap))
    return fitted or [Content(" " * width)]


class TableVisual(Visual):
    """Draws a table's header, rule and rows at any width; cheap to ask again."""

    def __init__(
        self,
        headers: Sequence[Content],
        rows: Sequence[Sequence[Content]],
        aligns: Sequence[Align] = (),
    ) -> None:
        self.headers = [_clean(cell) for cell in headers]
        self.rows = [[_clean(cell) for cell in row] for row in rows]
        self.columns = max(len(self.headers), max((len(row) for row in self.rows), default=0))
        self.aligns: list[Align] = [
            aligns[index] if index < len(aligns) else "left" for index in range(self.columns)
        ]
        natural = [1] * self.columns
        minimum = [1] * self.columns
        for row in (self.headers, *self.rows):
            for index, cell in enumerate(row):
                length = cell.cell_length
                if length > natural[index]:
                    natural[index] = length
                if length > minimum[index]:
                    minimum[index] = max(minimum[index], _longest_word(cell.plain))
        self.natural = natural
        self.minimum = minimum
        self._lines: dict[int, list[Content]] = {}
        self._strips: dict[tuple[int, int | None, Style], list[Strip]] = {}

    @property
    def natural_width(self) -> int:
        """The width that shows every cell on one line."""
        if not self.columns:
            return 0
        return sum(self.natural) + _OVERHEAD_PER_COLUMN * self.columns - 1

    def clear_strips(self) -> None:
        """Forget rendered strips (styles changed); the layout stays."""
        self._strips.clear()

    def lines(self, width: int) -> list[Content]:
        """The table laid out at `width` cells: one `Content` per line, none wider."""
        if width <= 0 or not self.columns:
            return []
        cached = self._lines.get(width)
        if cached is None:
            if len(self._lines) >= _CACHED_WIDTHS:
                self._lines.clear()
            cached = self._lines[width] = self._layout(width)
        return cached

    def _layout(self, width: int) -> list[Content]:
        columns = self.columns
        available = width - (_OVERHEAD_PER_COLUMN * columns - 1)
        widths = fit_columns(self.natural, self.minimum, available)
        # Text wraps in its column, unless the column is too narrow to read wrapped text.
        wraps = [column_width >= _MIN_WRAP_WIDTH for column_width in widths]
        aligns = self.aligns
        blanks = [Content(" " * column_width) for column_width in widths]
        lines: list[Content] = []

        def add_row(cells: Sequence[Content], header: bool) -> None:
            column_lines = [
                _cell_lines(
                    cells[index] if index < len(cells) else _EMPTY,
                    widths[index],
                    align,
                    wraps[index],
                )
                for index, align in enumerate(aligns)
            ]
            if header:
                column_lines = [
                    [line.stylize_before(HEADER) for line in cell] for cell in column_lines
                ]
            height = max(len(cell) for cell in column_lines)
            for y in range(height):
                parts: list[Content] = []
                for index, cell in enumerate(column_lines):
                    # Body cells sit at the top of their row, header cells at the bottom.
                    at = y - (height - len(cell)) if header else y
                    parts.append(cell[at] if 0 <= at < len(cell) else blanks[index])
                lines.append(_SEPARATOR.join(parts).pad(1, 1))

        if self.headers:
            add_row(self.headers, header=True)
            rule = "┼".join("─" * (column_width + 2) for column_width in widths)
            lines.append(Content.styled(rule, RULE))
        for row in self.rows:
            add_row(row, header=False)
        if sum(widths) > available:  # too narrow for one cell per column: cut the lines
            lines = [
                line.truncate(width, ellipsis=index != 1 or not self.headers)
                for index, line in enumerate(lines)
            ]
        return lines

    # ---------------------------------------------------------------- the Visual protocol

    def render_strips(
        self, width: int, height: int | None, style: Style, options: RenderOptions
    ) -> list[Strip]:
        lines = self.lines(width)
        if height is not None:
            lines = lines[:height]
        if not lines:
            return []
        if options.selection is not None or options.post_style is not None:
            return self._render_selected(lines, width, style, options)
        key = (width, height, style)
        strips = self._strips.get(key)
        if strips is None:
            if len(self._strips) >= _CACHED_WIDTHS:
                self._strips.clear()
            strips = self._strips[key] = self._render(lines, style, options.get_style)
        return strips

    @staticmethod
    def _render(
        lines: list[Content], base: Style, get_style: Callable[[str | Style], Style]
    ) -> list[Strip]:
        """Strips for laid-out lines: like `Content.render_strips`, without the per-character
        offsets text selection needs (a `Rich` style per segment), so several times cheaper."""
        rich_styles: dict[Style, RichStyle] = {}
        strips: list[Strip] = []
        for line in lines:
            segments: list[Segment] = []
            for text, text_style in line.render(base, end="", parse_style=get_style):
                rich_style = rich_styles.get(text_style)
                if rich_style is None:
                    rich_style = rich_styles[text_style] = (base + text_style).rich_style
                segments.append(Segment(text, rich_style))
            strips.append(Strip(segments, line.cell_length))
        return strips

    @staticmethod
    def _render_selected(
        lines: list[Content], width: int, base: Style, options: RenderOptions
    ) -> list[Strip]:
        """Strips with Textual's own renderer, which draws the selection."""
        return (
            Content("\n")
            .join(lines)
            .render_strips(
                width,
                None,
                base,
                RenderOptions(
                    options.get_style,
                    _NO_WRAP,
                    options.selection,
                    options.selection_style,
                    options.post_style,
                ),
            )
        )

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        natural = self.natural_width
        return min(natural, container_width) if container_width > 0 else natural

    def get_height(self, rules: RulesMap, width: int) -> int:
        return len(self.lines(width))


class TableBlock(MarkdownTable):
    """A markdown table that is one widget: the parser builds it like `MarkdownTable`, it
    draws header, rule and rows itself.

    Use it in a `Markdown` subclass: `BLOCKS = {**Markdown.BLOCKS, "table_open": TableBlock}`.
    A streaming table grows with `update_from(freshly_parsed_table)`.
    """

    COMPONENT_CLASSES = {"table-block--header", "table-block--rule"}

    DEFAULT_CSS = """
    TableBlock {
        height: auto;
        & > .table-block--header {
            color: $primary;
            text-style: bold;
        }
        & > .table-block--rule {
            color: $foreground 30%;
        }
    }
    """

    def __init__(self, markdown: Markdown, token: Token) -> None:
        super().__init__(markdown, token)
        self._consumed = False
        self._aligns: list[Align] = []
        self._table_visual: TableVisual | None = None

    # ---------------------------------------------------------------- the table's data

    def _consume(self) -> None:
        """Take headers, rows and alignments from the parsed blocks, once, and drop them."""
        if self._consumed:
            return
        self._headers, self._rows = super()._get_headers_and_rows()
        self._aligns = _column_aligns(self)
        self._blocks.clear()
        self._consumed = True

    def _get_headers_and_rows(self) -> tuple[list[Content], list[list[Content]]]:
        self._consume()
        return list(self._headers), [list(row) for row in self._rows]

    @property
    def headers(self) -> list[Content]:
        """The header cells."""
        self._consume()
        return list(self._headers)

    @property
    def rows(self) -> list[list[Content]]:
        """The rows' cells."""
        self._consume()
        return [list(row) for row in self._rows]

    @property
    def table_visual(self) -> TableVisual:
        """What draws the table (built on first use, rebuilt by `update_from`)."""
        if self._table_visual is None:
            self._consume()
            self._table_visual = TableVisual(self._headers, self._rows, self._aligns)
        return self._table_visual

    def update_from(self, other: MarkdownTable) -> None:
        """Show `other`'s cells (a freshly parsed, unmounted table: typically this table with
        more rows). Repaints; lays out again only if the height changes."""
        if other is self:
            return
        if isinstance(other, TableBlock):
            headers, rows = other._get_headers_and_rows()
            aligns = list(other._aligns)
        else:
            aligns = _column_aligns(other)
            headers, rows = other._get_headers_and_rows()
        self._consume()
        self._copy_context(other)
        if (
            aligns == self._aligns
            and _same_cells(headers, self._headers)
            and len(rows) == len(self._rows)
            and all(
                _same_cells(fresh, shown) for fresh, shown in zip(rows, self._rows, strict=True)
            )
        ):
            return
        old = self._table_visual
        before = rendered_lines(self)
        self._headers, self._rows, self._aligns = headers, rows, aligns
        new = self._table_visual = TableVisual(headers, rows, aligns)
        if not self.is_mounted:
            return
        width = self.size.width
        # A streaming tail holds blank lines below it (`_grow_in_steps` in message_view):
        # a row that fits in them needs no layout.
        held = self.__dict__.get("_held_height")
        lines = len(new.lines(width)) if width > 0 else 0
        if held is not None:
            same_height = width > 0 and lines <= held
        else:
            same_height = width > 0 and old is not None and len(old.lines(width)) == lines
        if same_height:
            repaint_changed_rows(self, before)  # a new row: as a rule the last rows alone
        else:
            self.clear_cached_dimensions()
            self.refresh(layout=True)

    async def _update_from_block(self, block: MarkdownBlock) -> None:
        """Textual's streaming path (`Markdown.append`): tables update in place."""
        if isinstance(block, MarkdownTable):
            self.update_from(block)
        else:
            await MarkdownBlock._update_from_block(self, block)

    # ---------------------------------------------------------------- drawing

    def compose(self) -> ComposeResult:
        self._consume()
        yield from ()

    def render(self) -> RenderResult:
        return self.table_visual

    def get_content_width(self, container: Size, viewport: Size) -> int:
        natural = self.table_visual.natural_width
        return min(natural, container.width) if container.width > 0 else natural

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.table_visual.lines(width))

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        lines = self.table_visual.lines(self.size.width)
        return selection.extract("\n".join(line.plain for line in lines)), "\n"

    def notify_style_update(self) -> None:
        if self._table_visual is not None:
            self._table_visual.clear_strips()
        super().notify_style_update()
