"""A list item of one paragraph drawn by one widget, not five.

Textual's markdown draws a list item as a list, a row, a bullet, a column and a paragraph:
five widgets to mount, style, lay out and paint. A reply's lists are mostly items of one
line or two (each item is a block of its own here, see `stream_blocks`), so in a streamed
reply four widgets in five were list scaffolding, and every one of them cost its share of
each mount, style pass, layout and repaint. `ListItemBlock` is the paragraph itself with the
bullet hung to its left; it looks the same as Textual's item, cell for cell (the tests
compare the two), and items that hold more than one paragraph keep Textual's widgets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content
from textual.strip import Strip
from textual.visual import RenderOptions, Visual
from textual.widgets import Markdown
from textual.widgets._markdown import MarkdownBlock, MarkdownParagraph

from tui.app.widgets.changed_rows import update_changed_rows

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from markdown_it.token import Token
    from textual.css.styles import RulesMap
    from textual.selection import Selection
    from textual.style import Style

_ITEM = ("list_item_open", "paragraph_open", "inline", "paragraph_close", "list_item_close")
_EMPTY_ITEM = ("list_item_open", "list_item_close")


def top_level_runs(tokens: Sequence[Token]) -> Iterator[Sequence[Token]]:
    """The tokens of each top-level block in turn (a streaming tail may hold a list item
    and the start of whatever follows it)."""
    start = depth = 0
    for index, token in enumerate(tokens):
        depth += token.nesting
        if depth == 0:
            yield tokens[start : index + 1]
            start = index + 1
    if start < len(tokens):
        yield tokens[start:]


def simple_items(tokens: Sequence[Token]) -> list[tuple[str, Token, Token | None]] | None:
    """For the tokens of one top-level list whose items each hold one paragraph (or
    nothing) and nothing else: per item, the bullet Textual would draw, the token the
    item's widget is made from and its inline token (None for an empty item). None for
    anything else.

    A finished block is one item; a streaming tail may be two (the item, and the start
    of the next one on a line not yet complete, "2." alone an empty item). Each item gets
    its own number, as it will when it is a block of its own.
    """
    if len(tokens) < 2 + len(_EMPTY_ITEM) or tokens[0].level:
        return None
    kind = tokens[0].type.removesuffix("_list_open")
    if kind not in ("bullet", "ordered") or tokens[-1].type != f"{kind}_list_close":
        return None
    items: list[tuple[str, Token, Token | None]] = []
    index, end = 1, len(tokens) - 1
    while index < end:
        number = tokens[index].info or "1"  # the item's list_item_open
        if tuple(token.type for token in tokens[index : index + len(_ITEM)]) == _ITEM:
            opening, inline, index = tokens[index + 1], tokens[index + 2], index + len(_ITEM)
        elif tuple(token.type for token in tokens[index : index + 2]) == _EMPTY_ITEM:
            opening, inline, index = tokens[index], None, index + 2
        else:
            return None
        if kind == "ordered":  # as MarkdownOrderedList: the number, right-aligned one cell in
            symbol = f"{number}. "
            bullet = symbol.rjust(len(symbol) + 1)
        else:
            bullet = Markdown.BULLETS[0]
        items.append((bullet, opening, inline))
    return items


class Hanging(Visual):
    """`body` wrapped beside `prefix`: the prefix on the first line, blanks under it (in
    the prefix's style, as the cells of Textual's bullet widget are)."""

    def __init__(self, prefix: str, style: str, body: Visual) -> None:
        self.prefix = Content.styled(prefix, style)
        self.under = Content.styled(" " * self.prefix.cell_length, style)
        self.body = body
        self._margin: tuple[Style, Strip, Strip] | None = None  # the style, bullet, blank

    def __str__(self) -> str:
        return f"{self.prefix.plain}{self.body}"

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        indent = self.prefix.cell_length
        return indent + self.body.get_optimal_width(rules, max(1, container_width - indent))

    def get_height(self, rules: RulesMap, width: int) -> int:
        return self.body.get_height(rules, max(1, width - self.prefix.cell_length))

    def render_strips(
        self, width: int, height: int | None, style: Style, options: RenderOptions
    ) -> list[Strip]:
        indent = self.prefix.cell_length
        strips = self.body.render_strips(max(1, width - indent), height, style, options)
        if not strips:
            return strips
        margin = self._margin
        if margin is None or margin[0] != style:
            no_selection = RenderOptions(options.get_style, options.rules)
            first = self.prefix.render_strips(indent, 1, style, no_selection)[0]
            blank = self.under.render_strips(indent, 1, style, no_selection)[0]
            margin = self._margin = (style, first, blank)
        _, first, blank = margin
        return [Strip.join([first if y == 0 else blank, strip]) for y, strip in enumerate(strips)]


class Stacked(Visual):
    """Visuals one under the other, each as tall as it needs."""

    def __init__(self, parts: Sequence[Visual]) -> None:
        self.parts = parts

    def __str__(self) -> str:
        return "\n".join(str(part) for part in self.parts)

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return max(part.get_optimal_width(rules, container_width) for part in self.parts)

    def get_height(self, rules: RulesMap, width: int) -> int:
        return sum(part.get_height(rules, width) for part in self.parts)

    def render_strips(
        self, width: int, height: int | None, style: Style, options: RenderOptions
    ) -> list[Strip]:
        strips: list[Strip] = []
        for part in self.parts:
            strips.extend(part.render_strips(width, None, style, options))
        return strips if height is None else strips[:height]


Item = tuple[str, Content]
"""A one-paragraph list item: its bullet and its text."""


class ListItemBlock(MarkdownParagraph):
    """A one-paragraph list item: a paragraph whose visual hangs the bullet beside it.
    (Its margin is set where the blocks' are, in message_view's `_BLOCK_CSS`.)

    While a reply streams, the items after it in the same list can be drawn by it too
    (`following`): a new item is then new text in a widget already laid out, not a widget
    to mount, style and lay out. Each looks as it would as a block of its own."""

    def __init__(self, markdown: Markdown, token: Token, bullet: str) -> None:
        super().__init__(markdown, token)
        self.bullet = bullet
        self.following: tuple[Item, ...] = ()
        self._hanging: Hanging | None = None
        self._shown: Visual | None = None

    @property
    def items(self) -> tuple[Item, ...]:
        """Every item this widget draws, its own first."""
        return ((self.bullet, self._content), *self.following)

    def _bullet_style(self) -> str:
        """As Textual's MarkdownBullet: the theme's primary text colour, secondary on light."""
        dark = self.app.current_theme.dark if self.is_attached else True
        return "$text-primary" if dark else "$text-secondary"

    @property
    def visual(self) -> Visual:
        body = super().visual
        hanging = self._hanging
        if hanging is None or hanging.body is not body:
            hanging = self._hanging = Hanging(self.bullet, self._bullet_style(), body)
            self._shown = None
        if not self.following:
            return hanging
        if self._shown is None:
            style = self._bullet_style()
            more = [Hanging(bullet, style, content) for bullet, content in self.following]
            self._shown = Stacked([hanging, *more])
        return self._shown

    def show_items(self, items: Sequence[Item]) -> None:
        """Draw these items: the first as this widget's own (no layout is asked for)."""
        (bullet, content), *following = items
        self.bullet = bullet
        self.following = tuple(following)
        self._hanging = None
        self._content = content
        update_changed_rows(self, content)

    def _copy_context(self, block: MarkdownBlock) -> None:
        super()._copy_context(block)
        if isinstance(block, ListItemBlock) and block.bullet != self.bullet:
            self.bullet = block.bullet
            self._hanging = None

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """The items' text under the selection (the bullets are not text)."""
        text = "\n".join(content.plain for _, content in self.items)
        return selection.extract(text), "\n"

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._hanging = None  # a new theme: the bullet's colour may change
