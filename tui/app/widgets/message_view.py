"""One message in the log, finished (`MessageView`) or streaming (`ReplyView`).

The body is Textual's own markdown machinery, driven block by block: the text is split into
top-level blocks (`stream_blocks`), each block is parsed on its own and becomes widgets once.
While a reply streams only the growing last block is parsed and re-rendered, at most once a
frame (`ReplyView` buffers tokens and flushes on a timer), so a long reply costs no more per
token than a short one. An open code fence is shown plain; it is highlighted once, when it
closes. `finish` re-splits the whole text and re-renders whatever differs, so the final view
is exactly a fresh render of the message.

Model text is data: control characters are made visible (`sanitize`) and text only ever
reaches the screen as `Content`, never as markup.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from types import MethodType
from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult, RenderResult
from textual.await_remove import AwaitRemove
from textual.content import Content
from textual.css.query import NoMatches
from textual.events import Mount
from textual.geometry import Size
from textual.renderables.blank import Blank
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Collapsible, Label, Static
from textual.widgets._markdown import (
    Markdown,
    MarkdownBlock,
    MarkdownBlockQuote,
    MarkdownFence,
    MarkdownHeader,
    MarkdownHorizontalRule,
    MarkdownList,
    MarkdownParagraph,
    MarkdownTable,
)

from tui.app.partial_paint import RepaintsWhatMoved
from tui.app.widgets.changed_rows import update_changed_rows
from tui.app.widgets.list_item import Item, ListItemBlock, simple_items, top_level_runs
from tui.app.widgets.stream_blocks import (
    Block,
    BlockSplitter,
    Kind,
    estimate_height,
    sanitize,
    split_blocks,
)
from tui.app.widgets.table_block import TableBlock
from tui.core.display import format_cost, format_tokens
from tui.core.session import Message, Role

if TYPE_CHECKING:
    from collections.abc import Awaitable, Iterator, Sequence

    from markdown_it import MarkdownIt
    from markdown_it.token import Token
    from textual.css.styles import RulesMap

FLUSH_INTERVAL = 1 / 8
"""Shortest time between screen updates while streaming: 8 Hz reads as smooth."""

MAX_FLUSH_INTERVAL = 1 / 4
"""Longest time between screen updates, however costly they are."""

CPU_BUDGET = 0.04
"""Share of one core the streaming display may use: the interval between updates grows with
what the last updates cost in all (flush, layout, paint, and the tokens arriving between).
5% of a core is what a reply at 100 tokens/s may cost in all (0.5 CPU-s per 1,000 tokens);
4% keeps a margin for what varies from run to run (a budget of exactly 5% turns every
saving into more updates until the reply costs 5% again). Here an update and all between
costs ~14 ms at that rate, so updates come 4 times a second, about a line of text each; a
machine three times as fast gets 8. At 8% there were 5 a second, and a 4,000-token reply
cost 0.79 CPU-s per 1,000 tokens against 0.70 at 5%."""


def update_interval(cycle_cpu: float) -> float:
    """Seconds from one screen update to the next, when an update and everything the
    process did until the next one (`cycle_cpu`, CPU seconds) has to fit in CPU_BUDGET."""
    return min(MAX_FLUSH_INTERVAL, max(FLUSH_INTERVAL, cycle_cpu / CPU_BUDGET))

HOLD_MAX = 0.1
"""Longest the screen waits, after an update, for the blocks it mounted: a block mounts over
several turns of the event loop and each turn would otherwise lay out and paint the screen
again; held, they appear together in one frame."""

STRUCTURE_INTERVAL = 0.5
"""Shortest time between updates that change the reply's widgets (a block finished, the
next one begins): each costs a mount and a layout of the screen, several times what an
update of the growing text in place costs. Blocks that finish in between (list items of a
few words) wait, their text complete in the tail, and are mounted together."""

RESERVE = 6
"""Blank lines a streaming reply keeps below its text (at least; two thirds of the log's
height if more), so the log scrolls (which repaints the whole screen) once per that many
lines rather than once per line."""

_parser: MarkdownIt | None = None


def _markdown_parser() -> MarkdownIt:
    """One shared parser: building one costs more than parsing a block. Raw HTML is text."""
    global _parser
    if _parser is None:
        from markdown_it import MarkdownIt

        _parser = MarkdownIt("gfm-like", {"html": False})
    return _parser


_HIGHLIGHT_CACHE: OrderedDict[tuple[str, str, bool, bool], Content] = OrderedDict()


def _cached_highlight(code: str, language: str, ansi: bool, dark: bool) -> Content | None:
    key = (code, language, ansi, dark)
    hit = _HIGHLIGHT_CACHE.get(key)
    if hit is not None:
        _HIGHLIGHT_CACHE.move_to_end(key)
    return hit


def _highlight(code: str, language: str, ansi: bool, dark: bool) -> Content:
    """Pygments once per (code, language, theme kind): re-renders and restyles hit the cache."""
    hit = _cached_highlight(code, language, ansi, dark)
    if hit is not None:
        return hit
    key = (code, language, ansi, dark)
    # No language means plain text: guessing runs every Pygments lexer over the code.
    content = MarkdownFence.highlight(code, language or "text", ansi=ansi, dark=dark)
    _HIGHLIGHT_CACHE[key] = content
    if len(_HIGHLIGHT_CACHE) > 256:
        _HIGHLIGHT_CACHE.popitem(last=False)
    return content


HIGHLIGHT_DELAY = 0.05
"""Seconds a fence shows plain before it is highlighted: time enough for the frame."""


class CodeFence(MarkdownFence):
    """A fence highlighted once, or shown plain while it is still streaming.

    A finished fence not highlighted before is drawn plain first and highlighted a moment
    later (HIGHLIGHT_DELAY): Pygments builds a lexer on first use (~40 ms) and highlights
    long code slowly, and every frame waited for it, in a session opened and in a streaming
    reply's update alike. (`call_after_refresh` was too early: it ran before the frame that
    showed the log.)
    """

    highlight_pending = False

    def __init__(self, markdown: Markdown, token: Token, code: str) -> None:
        MarkdownBlock.__init__(self, markdown, token)
        self.code = code
        self.lexer = (token.info or "").split(maxsplit=1)[0] if token.info.strip() else ""
        self.plain = isinstance(markdown, MarkdownBody) and markdown.plain_fences
        if self.plain:
            assert isinstance(markdown, MarkdownBody)
            markdown.plain_fence_count += 1
        self._theme_key = (self.app.native_ansi_color, self.app.current_theme.dark)
        self._highlighted_code = self._render_code(defer=True)
        self.auto_links = False

    def on_mount(self) -> None:
        if self.highlight_pending:
            self.set_timer(HIGHLIGHT_DELAY, self._highlight_now)

    def _highlight_now(self) -> None:
        if not self.highlight_pending or not self.is_attached:
            return
        self.highlight_pending = False
        self._highlighted_code = self._content = self._render_code()
        for label in self.query_children(Label):
            label.update(self._highlighted_code, layout=False)  # the same text: same size

    def compose(self) -> ComposeResult:
        label = Label(self._highlighted_code, id="code-content", expand=True)
        if self.plain:  # streaming: it grows every update, in steps
            _grow_in_steps(label)
        yield label

    def _render_code(self, *, defer: bool = False) -> Content:
        """The code's content; with `defer`, plain unless its highlighting is cached."""
        ansi, dark = self._theme_key
        if not self.plain:
            if not defer:
                return _highlight(self.code, self.lexer, ansi, dark)
            hit = _cached_highlight(self.code, self.lexer, ansi, dark)
            if hit is not None:
                return hit
            self.highlight_pending = True
        return Content(self.code).stylize_before("$text")

    def notify_style_update(self) -> None:
        """Re-highlight only when the kind of theme changed, not on every focus change."""
        key = (self.app.native_ansi_color, self.app.current_theme.dark)
        if key != self._theme_key:
            self._theme_key = key
            self._highlighted_code = self._render_code()
            self.highlight_pending = False
            self.set_content(self._highlighted_code)
        MarkdownBlock.notify_style_update(self)

    def _copy_context(self, block: MarkdownBlock) -> None:
        if isinstance(block, CodeFence):
            self.plain = block.plain
            if block.highlight_pending and not self.highlight_pending and self.is_mounted:
                self.set_timer(HIGHLIGHT_DELAY, self._highlight_now)
            self.highlight_pending = block.highlight_pending
        super()._copy_context(block)


def _size_updated_once(
    widget: Widget, size: Size, virtual_size: Size, container_size: Size
) -> bool:
    """`Widget._size_updated` without the second layout pass, and for a text widget,
    without a repaint of all of it at its next update.

    Textual stores a resized widget's virtual size in a reactive declared with
    `layout=True`, so every resize asks for one more layout and frame. Only scrolling
    widgets use their virtual size; for the others it is set without a refresh.

    A resized widget is also marked for repainting whole (`_set_dirty`), after the screen
    took its widgets' repaint regions for this frame: they wait for the widget's next
    refresh, when a growing tail gets a word more, and the whole block was repainted
    then. This frame's paint repaints what the resize changed (`partial_paint`), and the
    content is rendered again at the new size all the same.
    """
    pending = set(widget._repaint_regions)
    resized = Widget._size_updated(widget, size, virtual_size, container_size, layout=False)
    if not widget.is_container:
        widget._repaint_regions.clear()
        widget._repaint_regions.update(pending)
    return resized


def _once_per_resize(widget: Widget) -> None:
    """Give a tail widget `_size_updated_once` (it grows every update).

    A streaming fence is plain and its lines short of the width as a rule; its virtual
    size is still stored, only the extra layout pass (a second frame that repaints the
    whole fence again) is skipped. The finished fence is a fresh widget.
    """
    widget._size_updated = MethodType(_size_updated_once, widget)  # type: ignore[method-assign]


TAIL_SLACK = 3
"""Blank lines a growing widget holds below its text, at least: a layout (which costs more
than all the rest of an update) is needed once per that many new lines, not for every line."""

MAX_TAIL_SLACK = 6
"""Blank lines a growing widget holds at most (a quarter of its height, when more than
TAIL_SLACK): a long code block or table streams many lines an update, and laid out each
time it outgrew three lines, it cost a layout on most updates."""


def _held_content_height(widget: Widget, container: Size, viewport: Size, width: int) -> int:
    """The widget's content height, grown in steps of a few lines, never shrinking."""
    height = type(widget).get_content_height(widget, container, viewport, width)
    held: int = widget.__dict__.get("_held_height", 0)
    if height > held:
        held = height + max(TAIL_SLACK, min(MAX_TAIL_SLACK, height // 4))
        widget.__dict__["_held_height"] = held
    return held


def _grow_in_steps(widget: Widget) -> None:
    """A streaming text widget (the tail paragraph, an open fence's text) grows in steps."""
    _once_per_resize(widget)
    widget.get_content_height = MethodType(_held_content_height, widget)  # type: ignore[method-assign]


@dataclass
class _Group:
    """The widgets one block became, and the source they were rendered from."""

    source: str
    widgets: list[MarkdownBlock] = field(default_factory=list)
    plain: bool = False
    tokens: list[Token] = field(default_factory=list)
    joined: bool = False
    """Drawn by the widget of a group before it (list items streamed into one widget)."""


CHUNK = 8
"""Blocks a chunk holds: chunks far from the viewport are frozen so layout skips them."""


_BLOCK_CSS = """
    /* Every top-level list here is one item (a block of its own): no gap between items;
       what follows a list keeps its distance with a top margin (margins collapse). */
    {0} > MarkdownList {{ margin: 0; }}
    {0} > MarkdownParagraph, {0} > MarkdownTable {{ margin: 1 0; }}
    {0} > ListItemBlock {{ margin: 0; }}
"""


def block_width(body: Widget) -> int:
    """The width a body's blocks get: the body's, once laid out; before that, the log's
    (the view's parent) less the body's padding, or the app's."""
    width = body.content_size.width
    if not width:
        log = body.parent.parent if isinstance(body.parent, Widget) else None
        outer = log.size.width if isinstance(log, Widget) else 0
        width = (outer or body.app.size.width) - 2
    return max(width - 2, 10)  # what a chunk's blocks get


def last_screenful(blocks: Sequence[Block], start: int, width: int, height: int) -> int:
    """The index (not below `start`) of the first block within a screen's height of the
    end, by estimate; `start` when there are no more than CHUNK blocks after it. The blocks
    before it are worth drawing only if the user scrolls back to them."""
    if len(blocks) - start <= CHUNK:
        return start
    budget = max(height, 24)
    index = len(blocks)
    while index > start and budget > 0:
        index -= 1
        budget -= estimate_height(blocks[index], width)
    return index


def _remove_quietly(widgets: Sequence[Widget]) -> AwaitRemove:
    """Remove widgets without the layout Textual asks for once they are gone.

    `remove_children` lays the parent out again when the removal completes, and the screen
    with it. Here that layout changes nothing: the blocks were hidden and laid out of the
    way already (a reshaped tail), or their chunk holds its height without them (a frozen
    chunk), and the arrangement of the chunk they left is keyed on its children anyway.
    A reshaped tail cost two layouts, not one."""
    return widgets[0].app._prune(*widgets, parent=None)


class BlockChunk(RepaintsWhatMoved, Widget):
    """A run of CHUNK consecutive blocks; far from the viewport it is frozen.

    Textual lays out (and keeps in memory) every widget, on screen or not. A frozen chunk
    drops its block widgets and keeps only its height; the blocks' sources stay in the
    body's groups, so thawing (when the user scrolls near) renders them again. A reply of
    100k tokens so costs each frame, and in memory, about what a short one does.
    """

    DEFAULT_CSS = """
    BlockChunk {
        layout: stream;
        height: auto;
    }
    """ + _BLOCK_CSS.format("BlockChunk")

    frozen = False
    run: ChunkRun | None = None

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        return _size_updated_once(self, size, virtual_size, container_size)

    def __init__(self, body: MarkdownBody, index: int, *children: Widget) -> None:
        super().__init__(*children)
        self.markdown_body = body
        self.index = index
        self._frozen_height = 0
        self.estimated = False  # frozen before it was ever drawn: its height is a guess

    @classmethod
    def cold(cls, body: MarkdownBody, index: int, height: int) -> BlockChunk:
        """A chunk created frozen, its height estimated: blocks that scrolled away before
        they could be drawn are drawn only if the user scrolls back to them."""
        chunk = cls(body, index)
        chunk.frozen = True
        chunk.estimated = True
        chunk._frozen_height = max(height, 1)
        return chunk

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """A frozen chunk is as tall as it was (the stream layout ignores inline styles)."""
        if self.frozen:
            return self._frozen_height
        return super().get_content_height(container, viewport, width)

    def _groups(self) -> list[_Group]:
        start = self.index * CHUNK
        return self.markdown_body.groups[start : start + CHUNK]

    def freeze(self) -> bool:
        """Drop the block widgets, keep the height (valid until the width changes); False
        when that has to wait for the next layout.

        Not while its height is out of date: blocks mounted in it since it was last laid
        out (a sync flush does not wait for their mount, whose parent refresh would lay the
        chunk out again) reach below it. Frozen, it would keep the short height and the
        log its short length until the chunk is drawn again; it is laid out first."""
        height = self.outer_size.height
        if self.frozen or height <= 0 or not self.is_mounted:
            return True
        bottom = self.region.bottom
        if any(not child.region or child.region.bottom > bottom for child in self.children):
            self.refresh(layout=True)
            return False
        self.frozen = True
        self._frozen_height = height
        for group in self._groups():
            group.widgets = []
        if self.children:
            _remove_quietly(list(self.children))
        return True

    def thaw(self) -> None:
        """Render the blocks again from their sources."""
        if not self.frozen:
            return
        if self.run is not None:
            self.run.open()  # mounts this chunk, if the run had not yet
            if not self.is_attached:
                return  # the run is not in the DOM yet: thawed once it is, and opens
        self.frozen = False
        self.estimated = False
        widgets: list[MarkdownBlock] = []
        body = self.markdown_body
        for group in self._groups():
            fresh = body.render_block(group.source)
            group.widgets = fresh.widgets
            group.joined = False
            widgets.extend(fresh.widgets)
        if widgets and self.is_attached:
            self.mount_all(widgets)
        else:
            self.refresh(layout=True)


RUN = 32
"""Frozen chunks a run holds (256 blocks): a run opens whole when the user scrolls near."""


class ChunkRun(RepaintsWhatMoved, Widget):
    """Consecutive frozen chunks laid out as one blank widget of their total height.

    Textual arranges every widget of the screen at each layout, on screen or not, and a
    frozen chunk is still a widget: in a session holding a 100,000-token reply (~320 cold
    chunks) one layout of the screen took 16.8 ms against 0.5 ms in an empty one, and a
    reply streamed below it pays that at every layout. Closed, a run is a leaf, and its
    chunks are left out of the layout; they are mounted only when it first opens (320
    mounts took ~50 ms of a 100k reply's end). It opens when one of its chunks thaws (the
    user scrolled near) and closes again when they are all frozen and it is far.
    """

    DEFAULT_CSS = """
    ChunkRun {
        layout: stream;
        height: auto;
    }
    """

    closed = True

    def __init__(self, chunks: Sequence[BlockChunk]) -> None:
        super().__init__()
        self._chunks = list(chunks)
        for chunk in self._chunks:
            chunk.run = self

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        return _size_updated_once(self, size, virtual_size, container_size)

    @property
    def is_container(self) -> bool:
        return not self.closed

    @property
    def chunks(self) -> list[BlockChunk]:
        return self._chunks

    def drop(self, chunk: BlockChunk) -> None:
        """Forget a chunk (if mounted, it is removed as a widget besides)."""
        self._chunks.remove(chunk)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """Closed, the sum of its frozen chunks' heights: what they take laid out."""
        if self.closed:
            return sum(chunk._frozen_height for chunk in self.chunks)
        return super().get_content_height(container, viewport, width)

    def render(self) -> RenderResult:
        return Blank(self.background_colors[1])

    def open(self) -> None:
        if not self.closed or not self.is_attached:
            return
        self.closed = False
        unmounted = [chunk for chunk in self._chunks if chunk.parent is None]
        if unmounted:
            self.mount_all(unmounted)
        self.refresh(layout=True)

    def close(self) -> None:
        """Leave the chunks out of the layout again: only when all of them are frozen."""
        if not self.closed and all(chunk.frozen for chunk in self.chunks):
            self.closed = True
            self.refresh(layout=True)


def _cold_runs(chunks: Sequence[BlockChunk]) -> list[ChunkRun]:
    return [ChunkRun(chunks[start : start + RUN]) for start in range(0, len(chunks), RUN)]


class MarkdownBody(RepaintsWhatMoved, Markdown):
    """A Markdown widget whose blocks are mounted one source block at a time, in chunks."""

    DEFAULT_CSS = """
    MarkdownBody {
        layout: stream;
        height: auto;
        padding: 0 1;
    }
    """

    BLOCKS: dict[str, type[MarkdownBlock]] = {
        **Markdown.BLOCKS,
        "fence": CodeFence,
        "code_block": CodeFence,
        "table_open": TableBlock,
    }

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        return _size_updated_once(self, size, virtual_size, container_size)

    def __init__(
        self,
        blocks: list[Block] | None = None,
        *,
        classes: str | None = None,
        streaming: bool = False,
    ) -> None:
        super().__init__(classes=classes, open_links=True)
        self.plain_fences = False
        self.plain_fence_count = 0
        self.groups: list[_Group] = []
        self.chunks: list[BlockChunk] = []
        self._initial = blocks or []
        self._spare: BlockChunk | None = BlockChunk(self, 0) if streaming else None

    async def _on_mount(self, event: Mount) -> None:  # type: ignore[override]
        """Blocks are composed or mounted by us: stop Markdown parsing an empty source."""
        event.prevent_default()

    def compose(self) -> ComposeResult:
        """The last screenful of blocks is drawn; whole chunks before it start cold (source
        and an estimated height) and are drawn when the user scrolls near them: a long
        message opens at its end, and the user reads it from there upwards."""
        blocks = self._initial
        self._initial = []
        width = block_width(self)
        warm_from = last_screenful(blocks, 0, width, self.app.size.height)
        cold: list[BlockChunk] = []
        for start in range(0, len(blocks), CHUNK):
            chunk_blocks = blocks[start : start + CHUNK]
            if start + CHUNK <= warm_from:
                height = self.add_cold_groups(chunk_blocks, width)
                cold.append(BlockChunk.cold(self, len(self.chunks), height))
                self.chunks.append(cold[-1])
                continue
            yield from _cold_runs(cold)
            cold = []
            widgets: list[MarkdownBlock] = []
            for block in chunk_blocks:
                group = self.render_block(block.source)
                self.groups.append(group)
                widgets.extend(group.widgets)
            chunk = BlockChunk(self, len(self.chunks), *widgets)
            self.chunks.append(chunk)
            yield chunk
        yield from _cold_runs(cold)
        if self._spare is not None:
            yield self._spare

    def add_cold_groups(self, blocks: Sequence[Block], width: int) -> int:
        """Keep the blocks as sources only (a cold chunk's); their estimated height."""
        self.groups.extend(_Group(block.source) for block in blocks)
        return sum(estimate_height(block, width) for block in blocks)

    async def chunk_for(self, index: int) -> BlockChunk:
        """The chunk that holds block `index`, mounted if it is new."""
        wanted = index // CHUNK
        while len(self.chunks) <= wanted:
            chunk = BlockChunk(self, len(self.chunks))
            self.chunks.append(chunk)
            await self.mount(chunk)
        chunk = self.chunks[wanted]
        chunk.thaw()
        return chunk

    def chunk_for_now(self, index: int, pending: list[Awaitable[None]]) -> BlockChunk:
        """`chunk_for` without waiting: the chunk is in the DOM at once (its mount event
        comes later; what to wait for is added to `pending`)."""
        wanted = index // CHUNK
        while len(self.chunks) <= wanted:
            self._new_chunk(pending)
        chunk = self.chunks[wanted]
        chunk.thaw()
        return chunk

    def _new_chunk(self, pending: list[Awaitable[None]]) -> BlockChunk:
        """A new last chunk: the spare, if there is one, and a new spare after it.

        Blocks mounted into a chunk that is not mounted yet stay unpainted until the
        chunk's mount completes, which waits for every block in it (a table takes many
        turns of a busy event loop). A spare chunk, mounted ahead, paints its blocks as
        soon as each one is mounted.
        """
        spare = self._spare
        if spare is None:
            chunk = BlockChunk(self, len(self.chunks))
            pending.append(self.mount(chunk))
        else:
            chunk = spare
            chunk.index = len(self.chunks)
            self._spare = BlockChunk(self, 0)
            pending.append(self.mount(self._spare))
        self.chunks.append(chunk)
        return chunk

    def drop_spare(self) -> AwaitRemove | None:
        """The stream has ended: no more chunks are needed."""
        spare, self._spare = self._spare, None
        return spare.remove() if spare is not None else None

    def add_cold_chunks(self, heights: Sequence[int], pending: list[Awaitable[None]]) -> None:
        """Append chunks that are frozen from the start (see `BlockChunk.cold`), in one
        mount: a reply that outran the screen may add dozens at once."""
        chunks = []
        for height in heights:
            chunks.append(BlockChunk.cold(self, len(self.chunks), height))
            self.chunks.append(chunks[-1])
        runs = _cold_runs(chunks)
        if self._spare is not None and self._spare.parent is self:
            pending.append(self.mount_all(runs, before=self._spare))
        else:
            pending.append(self.mount_all(runs))

    def pack_frozen(self, far: Sequence[BlockChunk]) -> None:
        """Put each RUN consecutive frozen chunks of `far` that are this body's children
        (chunks drawn, then frozen as they scrolled away: a reply read as it streamed) into
        a closed run, as the cold ones are: stand-ins of the same heights take their place.
        The stand-ins and the run join the DOM at once and the old chunks are hidden, so
        the layout that follows sees the same heights."""
        wanted = set(far)
        streak: list[BlockChunk] = []
        for child in list(self.children):
            if (
                isinstance(child, BlockChunk)
                and child in wanted
                and child.frozen
                and child.is_mounted
                and not child.children
            ):
                streak.append(child)
                if len(streak) == RUN:
                    self._pack(streak)
                    streak = []
            else:
                streak = []

    def _pack(self, chunks: list[BlockChunk]) -> None:
        stand_ins = []
        for chunk in chunks:
            stand_in = BlockChunk.cold(self, chunk.index, chunk._frozen_height)
            stand_in.estimated = chunk.estimated
            self.chunks[chunk.index] = stand_in
            stand_ins.append(stand_in)
            chunk.display = False
        self.mount(ChunkRun(stand_ins), before=chunks[0])
        _remove_quietly(chunks)

    @staticmethod
    def remove_blocks_now(widgets: Sequence[Widget], pending: list[Awaitable[None]]) -> None:
        """Hide block widgets at once (the next layout skips them) and remove them."""
        hidden: list[Widget] = []
        for widget in widgets:
            if isinstance(widget.parent, Widget):
                widget.display = False
                hidden.append(widget)
        if hidden:
            pending.append(_remove_quietly(hidden))

    async def drop_chunks_after(self, count: int) -> None:
        """Remove chunks no block needs any more (`count` blocks remain)."""
        keep = (count + CHUNK - 1) // CHUNK
        extra = self.chunks[keep:]
        del self.chunks[keep:]
        by_parent: dict[Widget, list[Widget]] = {}
        for chunk in extra:
            if chunk.run is not None:
                chunk.run.drop(chunk)
            if isinstance(chunk.parent, Widget):
                by_parent.setdefault(chunk.parent, []).append(chunk)
        for parent, children in by_parent.items():
            await parent.remove_children(children)
        for run in self.query_children(ChunkRun):
            if not run.chunks:
                await run.remove()  # a run of nothing but those

    async def remove_blocks(self, widgets: Sequence[Widget]) -> None:
        """Remove block widgets, wherever in the chunks they are."""
        by_parent: dict[Widget, list[Widget]] = {}
        for widget in widgets:
            if isinstance(widget.parent, Widget):
                by_parent.setdefault(widget.parent, []).append(widget)
        for parent, children in by_parent.items():
            await parent.remove_children(children)

    def render_block(self, source: str, *, plain: bool = False, tokens: bool = False) -> _Group:
        """Parse one block's source into widgets (not mounted); keep the parser's tokens
        if asked (the growing tail compares them; finished blocks do not hold them)."""
        keep = tokens
        parsed = _markdown_parser().parse(source)
        widgets: list[MarkdownBlock] = []
        self.plain_fences = plain
        self.plain_fence_count = 0
        try:
            for run in top_level_runs(parsed):
                items = simple_items(run)
                if items is None:
                    widgets.extend(self._parse_markdown(run))
                    continue
                for bullet, opening, inline in items:
                    item = ListItemBlock(self, opening, bullet)
                    if inline is not None:
                        item.build_from_token(inline)
                    widgets.append(item)
        finally:
            self.plain_fences = False
        _forget_refreshes(widgets)
        return _Group(source, widgets, self.plain_fence_count > 0, parsed if keep else [])

    def code_blocks(self) -> list[str]:
        """The code of every fence, nested ones included, from the sources (frozen chunks
        have no widgets)."""
        parser = _markdown_parser()
        return [
            token.content.rstrip()
            for group in self.groups
            for token in parser.parse(group.source)
            if token.type in ("fence", "code_block")
        ]


_NOT_TEXT = frozenset({"fence", "code_block", "table_open", "html_block", "math_block"})


def _text_shape(tokens: Sequence[Token]) -> list[tuple[str, str, str, str]] | None:
    """A block's structure without its text; None if it holds more than text (a fence,
    a table), which cannot be updated by swapping text."""
    shape = []
    for token in tokens:
        if token.type in _NOT_TEXT:
            return None
        if token.type != "inline":
            shape.append((token.type, token.tag, token.markup, token.info))
    return shape


def _update_text_in_place(
    old: MarkdownBlock, old_tokens: Sequence[Token], tokens: Sequence[Token]
) -> bool:
    """A list item or a quote that only gained words: give its paragraphs their new text,
    in order.

    Same structure (`_text_shape`) means the same widgets, each paragraph one inline token
    of the source, so nothing is mounted; a list item re-mounted on every update cost a
    layout and a repaint of all of it.
    """
    if not old.is_mounted or _text_shape(old_tokens) is None:
        return False
    holders = [block for block in old.query(MarkdownBlock) if block._inline_token is not None]
    inlines = [token for token in tokens if token.type == "inline"]
    if len(holders) != len(inlines):
        return False
    for block, token in zip(holders, inlines, strict=True):
        content = block._token_to_content(token)
        block._inline_token = token
        if content != block._content:
            block._content = content
            _update_keeping_layout(block, content)
    return True


def _forget_refreshes(blocks: Sequence[MarkdownBlock]) -> None:
    """Drop the refreshes that building asked for: mounting lays a block out anyway.

    Textual's parser sets each block's content before it is mounted, which flags a
    layout; a nested block (a list item's paragraph) acts on the flag only once mounted,
    after the frame that showed it, so each new list item cost a second layout.
    """
    for block in blocks:
        block._layout_required = block._repaint_required = False
        _forget_refreshes(block._blocks)


_IN_PLACE = (MarkdownParagraph, MarkdownHeader, MarkdownHorizontalRule)
_NESTED_TEXT = (MarkdownList, MarkdownBlockQuote)
"""Blocks whose paragraphs can take new words in place (`_update_text_in_place`)."""


def _stop_growing(widget: Widget) -> None:
    """A finished block: drop the held blank lines and the tail-only patches (also of
    nested blocks it has yet to compose: a block mounted by the last update)."""
    nested = _nested_blocks(widget) if isinstance(widget, MarkdownBlock) else ()
    for node in (widget, *widget.query("*"), *nested):
        state = node.__dict__
        if state.pop("_held_height", None) is not None or "_size_updated" in state:
            state.pop("get_content_height", None)
            state.pop("_size_updated", None)
            node.refresh(layout=True)


def _tail_widget(widget: MarkdownBlock) -> None:
    """Text blocks updated in place grow in steps (a list item's paragraphs too)."""
    if isinstance(widget, (*_IN_PLACE, TableBlock)):
        _grow_in_steps(widget)
        return
    _once_per_resize(widget)
    if isinstance(widget, _NESTED_TEXT):
        for block in _nested_blocks(widget):
            if isinstance(block, MarkdownParagraph):
                _grow_in_steps(block)


def _nested_blocks(block: MarkdownBlock) -> Iterator[MarkdownBlock]:
    """The blocks an unmounted block will compose, depth first."""
    for child in block._blocks:
        yield child
        yield from _nested_blocks(child)


def _same_shape(old: list[MarkdownBlock], new: list[MarkdownBlock]) -> bool:
    return len(old) == len(new) and all(type(a) is type(b) for a, b in zip(old, new, strict=True))


def _update_keeping_layout(widget: Static, content: Content) -> None:
    """Repaint just this widget; ask for a layout only when its text outgrows it.

    A layout costs more than the rest of an update (Textual arranges every widget on the
    screen and repaints every container whose contents moved), so a growing widget holds
    a few blank lines (`_grow_in_steps`) and most updates need no layout at all.
    """
    update_changed_rows(widget, content)
    _layout_if_outgrown(widget)


def _layout_if_outgrown(widget: Static) -> None:
    """Ask for a layout only when the widget's new text needs more lines than it holds."""
    width = widget.content_size.width
    if not width:
        widget.refresh(layout=True)
        return
    rules = cast("RulesMap", widget.styles)
    needed = widget.visual.get_height(rules, width)
    held = widget.__dict__.get("_held_height")
    if needed > (held if held is not None else widget.content_size.height) or (
        held is None and needed != widget.content_size.height
    ):
        widget.refresh(layout=True)


def _format_time(when: datetime) -> str:
    return when.strftime("%H:%M" if when.date() == datetime.now().date() else "%Y-%m-%d %H:%M")


def header_content(message: Message, *, model: str | None, state: str | None = None) -> Content:
    """Role · time · model · tokens in/out · cost: built as Content so nothing is markup."""
    parts: list[Content] = [
        Content.styled(message.role.value, "bold"),
        Content(_format_time(message.created_at)),
    ]
    if message.role is Role.ASSISTANT:
        if model:
            parts.append(Content(sanitize(model)))
        if state is not None:
            parts.append(Content(state))
        else:
            usage = message.usage
            if usage is not None:
                parts.append(
                    Content(
                        f"{format_tokens(usage.prompt_tokens)} in / "
                        f"{format_tokens(usage.completion_tokens)} out"
                    )
                )
            cost = message.cost
            if cost is None:
                parts.append(Content(format_cost(None)))
            else:
                parts.append(Content(format_cost(cost.total_cost, cost.currency)))
            status = message.status
            if status is not None:
                reason = sanitize(status.reason)
                parts.append(Content.styled(f"{status.state}: {reason}", "italic"))
    return Content(" · ").join(parts)


class MessageView(RepaintsWhatMoved, Widget, can_focus=True):
    """A finished message: header, collapsed reasoning, markdown body."""

    LAYS_OUT_ALONE = True
    """A layout only it asked for arranges it alone, while its height stays the same
    (`tui.app.message_reflow`)."""

    DEFAULT_CSS = """
    MessageView {
        layout: stream;
        height: auto;
    }
    """

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        return _size_updated_once(self, size, virtual_size, container_size)

    def __init__(
        self,
        message: Message,
        *,
        session_model: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        role_class = f"-{message.role.value.lower()}"
        super().__init__(id=id, classes=f"{role_class} {classes or ''}".strip())
        self.message = message
        self.session_model = session_model

    def watch_has_focus(self, _has_focus: bool) -> None:
        """Restyle this view and its header only, not the thousands of blocks of a long body.

        Textual restyles every descendant on a focus change; no block's style depends on it.
        """
        self.app.stylesheet.update_nodes([self, *self.query_children(Label)], animate=True)

    @property
    def model_label(self) -> str | None:
        return self.message.model or self.session_model

    def compose(self) -> ComposeResult:
        yield Label(self._header(), classes="message--header")
        reasoning = self.message.reasoning
        if reasoning:
            yield self._reasoning_box(sanitize(reasoning))
        yield MarkdownBody(split_blocks(sanitize(self.message.text)), classes="message--body")

    def _header(self) -> Content:
        return header_content(self.message, model=self.model_label)

    def _reasoning_box(self, text: str) -> Collapsible:
        """Only messages with reasoning get the box: widgets cost milliseconds each to mount."""
        return Collapsible(
            Static(Content(text), classes="message--reasoning-text"),
            title="Reasoning",
            collapsed=True,
            classes="message--reasoning",
        )

    async def _ensure_reasoning_box(self) -> Collapsible:
        pending: list[Awaitable[None]] = []
        box = self._reasoning_box_now(pending)
        for awaitable in pending:
            await awaitable
        return box

    def _reasoning_box_now(self, pending: list[Awaitable[None]]) -> Collapsible:
        """The reasoning box, mounted (without waiting) if there is none yet."""
        boxes = self.query_children(".message--reasoning").results(Collapsible)
        for box in boxes:
            return box
        box = self._reasoning_box("")
        pending.append(self.mount(box, after=self.query_one(".message--header", Label)))
        return box

    @property
    def body(self) -> MarkdownBody:
        """The body (a child of this view: no query walks the blocks to find it)."""
        body = self.body_or_none
        if body is None:
            raise NoMatches(f"{self!r} has no body yet")
        return body

    @property
    def body_or_none(self) -> MarkdownBody | None:
        """The body, if composed; looks at this view's own children only."""
        for child in self.children:
            if isinstance(child, MarkdownBody):
                return child
        return None

    def code_blocks(self) -> list[str]:
        """The code of every fenced or indented block, in order: what copy offers."""
        return self.body.code_blocks()

    async def set_message(self, message: Message) -> None:
        """Show another version of the message (after a regenerate or an edit)."""
        self.message = message
        await self.remove_children()
        await self.mount_all(list(MessageView.compose(self)))


class ReplyView(MessageView):
    """A reply while it streams: tokens are buffered and reach the screen at most ~20 Hz."""

    def __init__(
        self,
        model_id: str,
        *,
        created_at: datetime | None = None,
        on_new_text: _Callback | None = None,
    ) -> None:
        placeholder = Message(
            role=Role.ASSISTANT, created_at=created_at or datetime.now(), model=model_id
        )
        super().__init__(placeholder, session_model=model_id)
        self.model_id = model_id
        self.streaming = True
        self._splitter = BlockSplitter()
        self._text_parts: list[str] = []
        self._reasoning_parts: list[str] = []
        self._reasoning_dirty = False
        self._text_dirty = False
        self._tail: _Group | None = None
        # List items finished since the tail's first widget began, which it draws:
        self._run: list[Item] = []
        self._run_token: Token | None = None
        self._rendered = 0  # finished blocks already on screen
        self._timer: Timer | None = None
        self._next_flush = 0.0
        self._flushing = False
        self._on_new_text = on_new_text
        self._last_cpu = 0.0
        self._last_wall = 0.0
        self._frame_cpu = 0.0  # smoothed CPU per update, all of it
        self._reserved = 0  # min-height that holds the reserve below the text
        self._used = 0  # lines of text at the last update
        self._mounting: list[Widget] = []  # mounted by an update, mount event still to come
        self._next_structure = 0.0  # no widgets mounted or removed before then
        self.flush_count = 0

    def compose(self) -> ComposeResult:
        yield Label(self._header(), classes="message--header")
        yield MarkdownBody(classes="message--body", streaming=True)

    def _header(self) -> Content:
        if self.streaming:
            state = "writing…" if self._text_parts else "thinking…"
            return header_content(self.message, model=self.model_label, state=state)
        return super()._header()

    # -- called by the worker, per token burst: buffer only -----------------------------
    def append_text(self, text: str) -> None:
        """Buffer reply text; cheap and synchronous."""
        if not text or not self.streaming:
            return
        clean = sanitize(text)
        first = not self._text_parts
        self._text_parts.append(clean)
        self._splitter.feed(clean)
        self._text_dirty = True
        if first:
            self._header_dirty = True
        self._schedule()

    def append_reasoning(self, text: str) -> None:
        """Buffer reasoning text; shown in the collapsed box above the reply."""
        if not text or not self.streaming:
            return
        self._reasoning_parts.append(sanitize(text))
        self._reasoning_dirty = True
        self._schedule()

    @property
    def text(self) -> str:
        return "".join(self._text_parts)

    @property
    def pending(self) -> bool:
        """Text or reasoning buffered but not yet on screen (tests wait on this)."""
        return bool(
            self._text_dirty
            or self._reasoning_dirty
            or self._flushing
            or self._timer is not None
            or any(not widget.is_mounted for widget in self._mounting)
        )

    # -- flushing ---------------------------------------------------------------------
    _header_dirty = False

    def _schedule(self) -> None:
        if self._timer is not None or self._flushing or not self.is_mounted:
            return
        if not self._next_flush:
            self._flush()  # the first text shows at once: the next frame paints it
            return
        delay = max(0.002, self._next_flush - time.monotonic())  # Timer(0) divides by zero
        self._timer = self.set_timer(delay, self._flush, name="reply-flush")

    def _interval(self) -> float:
        """Time to the next update: the CPU all of the last update cost, over the budget.

        It counts everything the process did since the previous update (the flush, the
        layout and paint it caused, tokens arriving), so a costly screen or a busy
        machine slows the updates down, between 8 and 4 a second.
        """
        cpu, wall = time.process_time(), time.monotonic()
        if self._last_wall:
            used = cpu - self._last_cpu
            self._frame_cpu = used if not self._frame_cpu else 0.5 * (self._frame_cpu + used)
        self._last_cpu, self._last_wall = cpu, wall
        return update_interval(self._frame_cpu)

    def _flush(self) -> None:
        """Put the buffered text on screen, in one go: nothing here waits.

        A reply that arrives flat out keeps the event loop busy; each turn of the loop the
        worker parses a whole socket read of tokens. An update that waited for its widgets
        to mount would need dozens of turns, and nothing would reach the screen until the
        reply ended. So the DOM is changed synchronously and the next screen update (one
        turn later) lays it out and paints it; mount events follow on their own.
        """
        self._timer = None
        if self._flushing or not self.streaming:
            return
        self._flushing = True
        interval = self._interval()
        try:
            self._render_pending()
        finally:
            self._flushing = False
            self._next_flush = time.monotonic() + interval
        if self._text_dirty or self._reasoning_dirty:
            self._schedule()

    def _render_pending(self) -> None:
        self.flush_count += 1
        new_text = self._text_dirty
        pending: list[Awaitable[None]] = []
        if self._header_dirty:
            self._header_dirty = False
            self.query_one(".message--header", Label).update(self._header())
        if self._reasoning_dirty:
            self._reasoning_dirty = False
            self._show_reasoning(pending)
        if self._text_dirty:
            self._text_dirty = False
            self._render_blocks_now(final=False, pending=pending)
            self._keep_reserve()
        self._mounting = [w for w in self._mounting if not w.is_mounted]
        if self._mounting:
            self._hold_screen()
        if new_text and self._on_new_text is not None:
            self._on_new_text(self)

    _holding = False
    _hold_until = 0.0

    def _hold_screen(self) -> None:
        """Suspend screen updates until the new blocks are mounted (at most HOLD_MAX)."""
        if self._holding:
            return
        self._holding = True
        self._hold_until = time.monotonic() + HOLD_MAX
        self.app._begin_batch()
        self.set_timer(0.005, self._check_hold, name="reply-hold")

    def _check_hold(self) -> None:
        if not self._holding:
            return
        self._mounting = [w for w in self._mounting if not w.is_mounted]
        if self._mounting and self.streaming and time.monotonic() < self._hold_until:
            self.set_timer(0.005, self._check_hold, name="reply-hold")
            return
        self._release_hold()

    def _release_hold(self) -> None:
        if self._holding:
            self._holding = False
            self.app._end_batch()
            # The held mounts asked for a layout already; the screen only needs a prompt
            # (a refresh of this view would repaint all of it).
            self.screen.check_idle()

    def on_unmount(self) -> None:
        self._release_hold()

    def _keep_reserve(self) -> None:
        """Hold RESERVE blank lines below the text (measured at the last layout).

        While the text grows into the reserve this view keeps its height: the log does not
        scroll, and only what changed is repainted. When the reserve runs low it is
        renewed in one step, so the log scrolls once per RESERVE lines.
        """
        body = self.body
        if not self.region or not body.region:
            return  # not laid out yet
        used = body.region.bottom - self.content_region.y
        # Lines the last update added: expect as many, up to RESERVE. A block of many lines
        # arriving at once is no trend: reserving as many again (on top of half the log)
        # left a screen of blank lines, the text scrolled off the top of a following log.
        growth = min(RESERVE, max(0, used - self._used))
        self._used = used
        if self._reserved - used < growth + 2:
            viewport = self.parent.size.height if isinstance(self.parent, Widget) else 0
            self._reserved = used + max(RESERVE, viewport * 2 // 3, growth + 3)
            self.refresh(layout=True)

    def _release_reserve(self) -> None:
        if self._reserved:
            self._reserved = 0
            self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """At least the reserve (the stream layout ignores inline min-height)."""
        height = super().get_content_height(container, viewport, width)
        return max(height, self._reserved)

    def _show_reasoning(self, pending: list[Awaitable[None]]) -> None:
        box = self._reasoning_box_now(pending)
        if not box.collapsed or not self.streaming:
            # Only an open box pays for the whole reasoning text.
            text = "".join(self._reasoning_parts)
            self.query_one(".message--reasoning-text", Static).update(Content(text))
        else:
            box.title = f"Reasoning ({len(self._reasoning_parts)} parts…)"

    async def _render_blocks(self, *, final: bool) -> None:
        """`_render_blocks_now`, then wait until every change is mounted or removed."""
        pending: list[Awaitable[None]] = []
        self._render_blocks_now(final=final, pending=pending)
        for awaitable in pending:
            await awaitable

    def _render_blocks_now(self, *, final: bool, pending: list[Awaitable[None]]) -> None:
        """Mount newly finished blocks once; re-render only the growing tail.

        The tail is the last block of the last chunk. When its block is finished the tail's
        widgets are brought up to date in place and stay where they are as the finished
        block (a fence gets its highlighting): no second copy is parsed, mounted and
        painted, and the next tail is the only new widget. Synchronous: widgets join the
        DOM at once; what would have been awaited is added to `pending`.
        """
        body = self.body
        finished = self._splitter.finished
        to_mount: dict[int, list[MarkdownBlock]] = {}
        tail = self._tail
        if tail is not None:
            self._join_run(tail, finished)
        start = self._rendered
        now = time.monotonic()
        if not final and start < len(finished):
            if tail is not None and now < self._next_structure:
                self._complete_tail_in_place(tail, finished[start].source, pending)
                self._text_dirty = True  # the rest waits for the next update
                return
            self._next_structure = now + STRUCTURE_INTERVAL
        if tail is not None and self._run and (final or start < len(finished)):
            tail = self._end_run(tail, pending)
            holder = tail.widgets[0].parent if tail is not None else None
            if isinstance(holder, BlockChunk) and holder.index != start // CHUNK and tail:
                # What followed the list went into the list's chunk; its block is not there.
                body.remove_blocks_now(tail.widgets, pending)
                tail = None
            self._tail = tail
        if tail is not None and start < len(finished):
            # What the tail showed past its block may start the next tail, if that one is
            # next in the same chunk (the DOM order is the blocks' order).
            keep_rest = start + 1 == len(finished) and (start + 1) // CHUNK == start // CHUNK
            self._tail = tail = self._adopt_tail(
                tail, finished[start].source, pending, keep_rest=keep_rest
            )
            start += 1
        width = block_width(body)
        cold_end = last_screenful(finished, start, width, self.app.size.height)
        # Blocks that go into chunks already there are drawn; then whole new chunks that
        # would scroll away unseen stay cold; the rest is drawn.
        existing_end = min(max(start, len(body.chunks) * CHUNK), len(finished))
        cold_start = cold_stop = existing_end
        while cold_stop % CHUNK == 0 and cold_stop + CHUNK <= cold_end:
            cold_stop += CHUNK
        for index in range(start, len(finished)):
            if index == cold_start and cold_stop > cold_start:
                heights = [
                    body.add_cold_groups(finished[first : first + CHUNK], width)
                    for first in range(cold_start, cold_stop, CHUNK)
                ]
                body.add_cold_chunks(heights, pending)
            if cold_start <= index < cold_stop:
                continue
            group = body.render_block(finished[index].source)
            body.groups.append(group)
            to_mount.setdefault(index // CHUNK, []).extend(group.widgets)
        self._rendered = len(finished)
        for chunk_index in sorted(to_mount):
            chunk = body.chunk_for_now(chunk_index * CHUNK, pending)
            widgets = to_mount[chunk_index]
            pending.append(chunk.mount_all(widgets))
            self._mounting.extend(widgets)
        source = "" if final else self._splitter.tail()
        if not source.strip():
            if tail is not None and self._run:
                tail = self._end_run(tail, pending)
            if tail is not None:
                body.remove_blocks_now(tail.widgets, pending)
            self._tail = None
            return
        new_tail = self._render_tail(source)
        if tail is not None and _same_shape(tail.widgets, new_tail.widgets):
            self._update_in_place(tail, new_tail, pending)
            return
        if tail is not None and self._extend_tail(tail, new_tail, pending):
            return
        if tail is not None and self._run:
            # Reshaped past the list: the list's widget stays, drawing its finished items.
            tail = self._end_run(tail, pending)
            new_tail = self._render_tail(source)
        if tail is not None:
            body.remove_blocks_now(tail.widgets, pending)
        if new_tail.widgets:  # (a link reference definition alone draws nothing)
            _tail_widget(new_tail.widgets[-1])  # only the last grows: no gap inside the tail
        chunk = body.chunk_for_now(len(finished), pending)
        pending.append(chunk.mount_all(new_tail.widgets))
        self._mounting.extend(new_tail.widgets)
        self._tail = new_tail

    def _complete_tail_in_place(
        self, tail: _Group, source: str, pending: list[Awaitable[None]]
    ) -> None:
        """The tail's block has finished but the widgets wait (STRUCTURE_INTERVAL): show
        its whole text in place, if that needs no other widgets."""
        if tail.source == source:
            return
        complete = self._render_tail(source)
        if _same_shape(tail.widgets, complete.widgets):
            self._update_in_place(tail, complete, pending)

    def _render_tail(self, source: str) -> _Group:
        """The open block's widgets, unmounted; its leading list items are drawn by one
        widget, after the items of the run (see `_join_run`)."""
        new = self.body.render_block(source, plain=True, tokens=True)
        widgets = new.widgets
        count = 0
        while count < len(widgets) and isinstance(widgets[count], ListItemBlock):
            count += 1
        live = [item for widget in widgets[:count] for item in cast(ListItemBlock, widget).items]
        items = [*self._run, *live]
        if len(items) < 2:
            return new  # one item or none: as it is
        if count:
            head = cast(ListItemBlock, widgets[0])
        else:
            assert self._run_token is not None
            head = ListItemBlock(self.body, self._run_token, items[0][0])
        head.show_items(items)
        _forget_refreshes([head])
        new.widgets = [head, *widgets[count:]]
        return new

    def _join_run(self, tail: _Group, finished: Sequence[Block]) -> None:
        """Finished list items that follow the tail's first widget's item, in its chunk,
        join its run: that widget draws them from now on (their groups hold no widget of
        their own). A new item is new text in a widget laid out already, not a block to
        mount, style and lay out: a list streams with one layout per few items, not one
        per item, and no item waits for STRUCTURE_INTERVAL."""
        head = tail.widgets[0] if tail.widgets else None
        if not isinstance(head, ListItemBlock) or not isinstance(head.parent, BlockChunk):
            return
        chunk = head.parent.index
        body = self.body
        start = self._rendered
        while (
            start < len(finished)
            and start // CHUNK == chunk
            and finished[start].kind is Kind.ITEM
        ):
            alone = body.render_block(finished[start].source).widgets
            if len(alone) != 1 or not isinstance(alone[0], ListItemBlock):
                break
            first = not self._run
            if first:
                self._run_token = alone[0]._token
            group = _Group(finished[start].source, [head] if first else [], joined=not first)
            body.groups.append(group)
            self._run.append(alone[0].items[0])
            start += 1
        self._rendered = start

    def _end_run(self, tail: _Group, pending: list[Awaitable[None]]) -> _Group | None:
        """The run's widget becomes a finished block drawing the run's items (the widget of
        the run's first group since it joined); what the tail shows after it is returned,
        as the tail."""
        head = cast(ListItemBlock, tail.widgets[0])
        live = len(head.items) > len(self._run)
        if head.items != tuple(self._run):
            head.show_items(self._run)
            _layout_if_outgrown(head)
        _stop_growing(head)
        self._run = []
        rest = tail.widgets[1:]
        if not rest:
            return None
        return _Group("", rest, tokens=[] if live else tail.tokens)

    def _extend_tail(self, tail: _Group, new: _Group, pending: list[Awaitable[None]]) -> bool:
        """The tail's widgets are the first of the new tail's (the next list item has
        begun): update them in place and mount only the new ones after them."""
        count = len(tail.widgets)
        chunk = tail.widgets[-1].parent if tail.widgets else None
        if count >= len(new.widgets) or not isinstance(chunk, BlockChunk):
            return False
        if not _same_shape(tail.widgets, new.widgets[:count]):
            return False
        extra = new.widgets[count:]
        new.widgets = new.widgets[:count]
        self._update_in_place(tail, new, pending)
        _stop_growing(tail.widgets[-1])  # no longer the last: it is laid out anyway
        _tail_widget(extra[-1])
        pending.append(chunk.mount_all(extra))
        self._mounting.extend(extra)
        tail.widgets.extend(extra)
        return True

    def _adopt_tail(
        self, tail: _Group, source: str, pending: list[Awaitable[None]], *, keep_rest: bool
    ) -> _Group | None:
        """The tail's block is finished: its widgets become the block's, updated in place
        (or replaced where they cannot be), and stop holding blank lines.

        A tail can show more than its block: a list item and the first words of the next
        one. With `keep_rest`, widgets past the block's own (same types first) are
        returned, to be updated in place as the next tail rather than removed while an
        equal widget is mounted."""
        body = self.body
        fresh = body.render_block(source, tokens=True)
        rest: _Group | None = None
        count = len(fresh.widgets)
        if (
            keep_rest
            and count < len(tail.widgets)
            and _same_shape(tail.widgets[:count], fresh.widgets)
        ):
            rest = _Group("", tail.widgets[count:])
            tail.widgets = tail.widgets[:count]
        if _same_shape(tail.widgets, fresh.widgets):
            self._update_in_place(tail, fresh, pending)
            for widget in tail.widgets:
                _stop_growing(widget)
            group = tail
        else:
            chunk = body.chunk_for_now(len(body.groups), pending)
            body.remove_blocks_now(tail.widgets, pending)
            pending.append(chunk.mount_all(fresh.widgets))
            self._mounting.extend(fresh.widgets)
            group = fresh
        group.source = source
        group.plain = fresh.plain
        group.tokens = []
        body.groups.append(group)
        return rest

    def _update_in_place(self, tail: _Group, new: _Group, pending: list[Awaitable[None]]) -> None:
        """Same widget types as before: update their content rather than re-mount."""
        # The tokens are the open block's: one widget's, after the run's if that draws no
        # item of the open block.
        head = new.widgets[0] if new.widgets else None
        run_only = isinstance(head, ListItemBlock) and len(head.items) == len(self._run) > 0
        owner = len(tail.widgets) - 1 if len(tail.widgets) == 1 + run_only else -1
        same_text_shape = owner >= 0 and _text_shape(tail.tokens) == _text_shape(new.tokens)
        old_tokens, tail.tokens = tail.tokens, new.tokens
        tail.source = new.source
        tail.plain = new.plain
        for index, (old, fresh) in enumerate(zip(tail.widgets, new.widgets, strict=True)):
            if (
                same_text_shape
                and index == owner
                and isinstance(old, _NESTED_TEXT)
                and _update_text_in_place(old, old_tokens, new.tokens)
            ):
                continue
            if isinstance(old, ListItemBlock) and isinstance(fresh, ListItemBlock):
                old._copy_context(fresh)
                if old.items != fresh.items:
                    old.show_items(fresh.items)
                    _layout_if_outgrown(old)
                continue
            if isinstance(old, _IN_PLACE):
                old._copy_context(fresh)
                if old._content != fresh._content:
                    old._content = fresh._content
                    _update_keeping_layout(old, fresh._content)
            elif isinstance(old, CodeFence) and isinstance(fresh, CodeFence):
                old._copy_context(fresh)
                old.code, old.lexer = fresh.code, fresh.lexer
                old._highlighted_code = old._content = fresh._highlighted_code
                for label in old.query_children(Label):
                    _update_keeping_layout(label, fresh._highlighted_code)
            elif isinstance(old, TableBlock) and isinstance(fresh, MarkdownTable):
                old.update_from(fresh)
            else:
                if isinstance(old.parent, Widget):
                    if index == len(tail.widgets) - 1:
                        _tail_widget(fresh)
                    pending.append(old.parent.mount(fresh, after=old))
                    self._mounting.append(fresh)
                MarkdownBody.remove_blocks_now([old], pending)
                tail.widgets[index] = fresh

    # -- the end ----------------------------------------------------------------------
    def _stop_stream(self) -> None:
        self._release_hold()
        self.streaming = False
        self._text_dirty = self._reasoning_dirty = self._header_dirty = False
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    async def _end_tail(self) -> None:
        """The reply is whole: the reserve and the spare chunk go; the body is the message."""
        self._tail = None
        self._release_reserve()
        spare = self.body.drop_spare()
        if spare is not None:
            await spare

    async def _wait_flush(self) -> None:
        while self._flushing:
            await self._sleep()

    @staticmethod
    async def _sleep() -> None:
        import asyncio

        await asyncio.sleep(0.005)

    async def finish(self, message: Message) -> None:
        """The reply is complete: render it once fully so the final view is exactly right."""
        self._stop_stream()
        await self._wait_flush()
        self.message = message
        self.session_model = message.model or self.model_id
        self._splitter.close()
        with self.app.batch_update():
            await self._render_blocks(final=True)
            await self._end_tail()
            final = sanitize(message.text)
            # The streamed text is the message as a rule: its blocks are split already.
            same = final == self.text
            await self._reconcile(self._splitter.finished if same else split_blocks(final))
            self.query_one(".message--header", Label).update(self._header())
            self._reasoning_parts = [sanitize(message.reasoning)] if message.reasoning else []
            await self._show_reasoning_final()
        if self._on_new_text is not None:
            self._on_new_text(self)

    async def _show_reasoning_final(self) -> None:
        text = "".join(self._reasoning_parts)
        if not text:
            for box in self.query_children(".message--reasoning").results(Collapsible):
                await box.remove()
            return
        box = await self._ensure_reasoning_box()
        box.title = "Reasoning"
        self.query_one(".message--reasoning-text", Static).update(Content(text))

    async def _reconcile(self, blocks: list[Block]) -> None:
        """Make the body equal a fresh render of `blocks`: keep the common prefix only."""
        body = self.body
        groups = body.groups
        keep = 0
        for group, block in zip(groups, blocks, strict=False):
            if group.source != block.source or group.plain:
                break
            keep += 1
        while 0 < keep < len(groups) and groups[keep].joined:
            keep -= 1  # the widget that draws it draws the blocks before it too
        if keep == len(groups) == len(blocks):
            return
        stale = [w for group in groups[keep:] for w in group.widgets]
        del groups[keep:]
        if stale:
            await body.remove_blocks(stale)
        await body.drop_chunks_after(max(keep, len(blocks)))
        for index in range(keep, len(blocks)):
            group = body.render_block(blocks[index].source)
            groups.append(group)
            chunk = await body.chunk_for(index)
            await chunk.mount_all(group.widgets)
        if body.chunks:
            # The log never draws the last chunk again (it is the streaming tail's): one
            # that stayed cold in the stream and now ends the message is drawn here.
            body.chunks[-1].thaw()

    async def fail(self, error_line: str, message: Message | None) -> None:
        """Keep the partial text, mark it interrupted, and say what went wrong and what to do."""
        self._stop_stream()
        await self._wait_flush()
        self._splitter.close()
        if message is not None:
            self.message = message
            if not message.text:
                message.text = self.text
        else:
            self.message.text = self.text
        with self.app.batch_update():
            await self._render_blocks(final=True)
            await self._end_tail()
            await self._reconcile(split_blocks(sanitize(self.message.text)))
            reason = self.message.status.reason if self.message.status else "error"
            state = f"interrupted: {sanitize(reason)}"
            header = header_content(self.message, model=self.model_label, state=state)
            self.query_one(".message--header", Label).update(header)
            await self.mount(Label(Content(sanitize(error_line)), classes="message--error"))
            await self._show_reasoning_final()
        if self._on_new_text is not None:
            self._on_new_text(self)


if TYPE_CHECKING:
    from collections.abc import Callable

    _Callback = Callable[[ReplyView], None]
