"""The scrolling log of a session's messages, and the reply that is streaming into it.

Long sessions open at the newest message: only the newest messages are mounted, older ones
as the user scrolls to the top. "Following" is state, changed only by what the user does
(scrolling up stops it; End, or scrolling back to the bottom, restores it), never recomputed
from geometry while content grows. While following, Textual's anchor keeps the log pinned to
the bottom at no cost; while not, a hint says new text arrived below.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.dom import DOMNode
from textual.geometry import Region
from textual.widgets import Label

from tui.app.layout_requests import record_whole_layout_paths
from tui.app.partial_paint import RepaintsWhatMoved
from tui.app.widgets.message_view import (
    BlockChunk,
    ChunkRun,
    MarkdownBody,
    MessageView,
    ReplyView,
)
from tui.core.session import Message, Role

INITIAL_MESSAGES = 20
"""At most this many messages are mounted when a session opens..."""

INITIAL_SCREENS = 1
"""...and no more than needed to fill about this many screens: each widget costs ~1 ms.
Right after the first frame, a log shorter than two screens loads the next batch
(`_settle`), so Page Up finds text there."""

OLDER_BATCH = 10
"""Messages mounted each time the user reaches the top."""


def _estimated_rows(message: Message, width: int) -> int:
    """Rough rendered height of a message: wrapped lines plus the header; no parsing."""
    width = max(width - 4, 20)
    return 2 + sum(len(line) // width + 1 for line in message.text.splitlines())


class MessageLog(RepaintsWhatMoved, VerticalScroll, can_focus=True):
    """Every message of the session; the newest at the bottom."""

    DEFAULT_CSS = """
    MessageLog {
        layout: stream;
        height: 1fr;
        scrollbar-gutter: stable;
    }
    MessageLog > #new-text-hint {
        dock: bottom;
        width: auto;
        height: 1;
        display: none;
    }
    MessageLog > #new-text-hint.-shown { display: block; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("end", "scroll_to_end", "Follow", show=False, id="message_log.end"),
        Binding("up", "focus_previous", "Previous message", show=False, id="message_log.up"),
        Binding("down", "focus_next", "Next message", show=False, id="message_log.down"),
    ]

    def __init__(
        self, *, id: str | None = None, classes: str | None = None, name: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes, name=name)
        record_whole_layout_paths()  # the reply's chunks are stream layouts: see the module
        self.following = True
        self.session_model = ""
        self._older: list[Message] = []
        self._loading_older = False
        self._ready = False
        self._reply: ReplyView | None = None
        # Called when new text of the streaming reply is put on screen, for what goes with
        # it (the footer's count): changed at once, the same frame paints both. (A message
        # would be handled after that frame, and cost one of its own.)
        self.on_reply_text: Callable[[], None] | None = None
        self._virtualize_pending = False
        self._virtualize_again = False
        self._width = 0

    def compose(self) -> ComposeResult:
        yield Label(Content("↓ new text below · End to follow"), id="new-text-hint")

    def on_mount(self) -> None:
        self.anchor()

    def watch_has_focus(self, _has_focus: bool) -> None:
        """Restyle the log itself only: Textual would restyle every message in it."""
        self.app.stylesheet.update_nodes([self], animate=True)

    # -- content ----------------------------------------------------------------------
    @property
    def views(self) -> list[MessageView]:
        return [child for child in self.children if isinstance(child, MessageView)]

    @property
    def has_older(self) -> bool:
        """Messages not mounted yet (they load as the user scrolls to the top)."""
        return bool(self._older)

    async def show_session(self, messages: list[Message], *, session_model: str) -> None:
        """Replace the content; mount the newest messages first and scroll to the end."""
        self.session_model = session_model
        self._ready = False
        self._reply = None
        cut = len(messages)
        rows, wanted = 0, INITIAL_SCREENS * max(self.size.height, 24)
        while cut > 0 and len(messages) - cut < INITIAL_MESSAGES and rows < wanted:
            cut -= 1
            rows += _estimated_rows(messages[cut], self.size.width or 80)
        self._older = list(messages[:cut])
        with self.app.batch_update():
            await self.remove_children(MessageView)
            views = [self._view(m) for m in messages[cut:]]
            if views:
                await self.mount_all(views)
        self._set_following(True)
        self.call_after_refresh(self._settle)

    def _settle(self) -> None:
        """After the first layout: lazy loading may begin; fill the screen if it is short."""
        self._ready = True
        self._schedule_virtualize()
        if self._older and self.max_scroll_y < self.size.height:
            self._request_older()

    def _view(self, message: Message) -> MessageView:
        return MessageView(message, session_model=self.session_model)

    async def add_message(self, message: Message) -> MessageView:
        """Append one message (the user's prompt): the user is looking at the bottom now."""
        view = self._view(message)
        await self.mount(view)
        self._set_following(True)
        return view

    async def begin_reply(self, model_id: str) -> ReplyView:
        """Append the placeholder a reply streams into."""
        reply = ReplyView(model_id, created_at=datetime.now(), on_new_text=self._new_text)
        self._reply = reply
        await self.mount(reply)
        return reply

    async def update_message(self, old: Message, new: Message) -> MessageView | None:
        """Show `new` in place of the view of `old` (matched by identity)."""
        for view in self.views:
            if view.message is old:
                await view.set_message(new)
                self._schedule_virtualize()
                return view
        return None

    async def remove_last_reply(self) -> Message | None:
        """Remove the last assistant message (before regenerating it)."""
        for view in reversed(self.views):
            if view.message.role is Role.ASSISTANT:
                if view is self._reply:
                    self._reply = None
                await view.remove()
                return view.message
        return None

    def focused_message(self) -> Message | None:
        """The message whose view has focus (or holds the focus), if any."""
        view = self.focused_view()
        return view.message if view is not None else None

    def focused_view(self) -> MessageView | None:
        node: DOMNode | None = self.screen.focused if self.is_attached else None
        while node is not None and node is not self:
            if isinstance(node, MessageView):
                return node
            node = node.parent
        return None

    # -- following --------------------------------------------------------------------
    def _set_following(self, value: bool) -> None:
        self.following = value
        self.anchor(value)
        if value:
            self._hint(False)

    def _hint(self, show: bool) -> None:
        self.query_one("#new-text-hint", Label).set_class(show, "-shown")

    def _new_text(self, reply: ReplyView) -> None:
        if not self.following:
            self._hint(True)
        self._schedule_virtualize()
        if self.on_reply_text is not None:
            self.on_reply_text()

    # -- virtualizing: chunks far from the viewport are frozen --------------------------
    def _schedule_virtualize(self) -> None:
        """Virtualize after the next refresh; asked again while one is pending, once more
        after that: the pending one may run on regions from before the latest scroll (it
        froze the chunks a scroll had just brought into view, and the log stayed blank)."""
        if self._virtualize_pending:
            self._virtualize_again = True
            return
        self._virtualize_pending = True
        self.call_after_refresh(self._virtualize)

    def _virtualize(self) -> None:
        """Freeze block chunks more than a screen away, thaw those near; O(chunks)."""
        self._virtualize_pending = False
        if self._virtualize_again:
            self._virtualize_again = False
            self._schedule_virtualize()
        viewport = self.region
        if not viewport:
            return
        margin = viewport.height
        top, bottom = viewport.y - margin, viewport.bottom + margin
        guessed: list[tuple[BlockChunk, int]] = []  # thawed above the viewport, height a guess

        def near(region: Region) -> bool:
            return region.bottom >= top and region.y <= bottom

        for body in self._bodies():
            last = body.chunks[-1]
            far: list[BlockChunk] = []
            for child in body.children:
                if isinstance(child, ChunkRun):
                    if child.closed:
                        if child.region and near(child.region):
                            child.open()  # its chunks are laid out by the next refresh
                            self._schedule_virtualize()
                        continue
                    chunks = child.chunks
                elif isinstance(child, BlockChunk):
                    chunks = [child]
                else:
                    continue
                for chunk in chunks:
                    region = chunk.region
                    if chunk is last or not region:
                        continue
                    if near(region):
                        if chunk.estimated and region.bottom <= viewport.y:
                            guessed.append((chunk, region.height))
                        chunk.thaw()
                    elif chunk.freeze():
                        far.append(chunk)
                    else:
                        self._schedule_virtualize()  # after the layout it waits for
                if isinstance(child, ChunkRun) and not near(child.region):
                    child.close()
            body.pack_frozen(far)
        if guessed and not self.following:
            self.call_after_refresh(self._keep_place_after_thaw, guessed)

    def _keep_place_after_thaw(self, guessed: list[tuple[BlockChunk, int]]) -> None:
        """Chunks above the viewport drawn for the first time had estimated heights: keep
        what the user is reading where it was."""
        delta = sum(
            chunk.outer_size.height - height for chunk, height in guessed if chunk.is_attached
        )
        if self.scroll_target_y > 0:  # on the way to the very top (Home), the top is the place
            self._shift_view(delta)

    def _shift_view(self, delta: int) -> None:
        """Content above the viewport grew by `delta` lines: move the view with it, and a
        scroll under way (Page Up, the wheel) to where it was going, moved too."""
        if not delta or self.following:
            return
        target = self.scroll_target_y
        moving = abs(target - self.scroll_y) >= 1 or self.app.animator.is_being_animated(
            self, "scroll_y"
        )
        self.scroll_to(y=self.scroll_y + delta, animate=False, release_anchor=False)
        if moving:
            self.scroll_to(y=target + delta, release_anchor=False)

    def _bodies(self) -> list[MarkdownBody]:
        """Bodies with more than one chunk: the only ones virtualizing touches.

        Found through the views, not a query: a query walks every block of every message.
        """
        bodies = []
        for view in self.views:
            body = view.body_or_none
            if body is not None and len(body.chunks) > 1:
                bodies.append(body)
        return bodies

    def on_resize(self, event: events.Resize) -> None:
        """Frozen heights hold for one width only: at another, they are a guess, and the
        chunks near the viewport are drawn again (`_virtualize`), not every chunk (on a
        long session that drew every message whole, and the first resize, at start-up,
        drew the chunks that had just been composed cold)."""
        if event.size.width != self._width:
            if self._width:
                for body in self._bodies():
                    for chunk in body.chunks:
                        chunk.estimated = chunk.estimated or chunk.frozen
            self._width = event.size.width
        self._schedule_virtualize()

    def action_scroll_to_end(self) -> None:
        """Jump to the newest text and follow the stream again."""
        self._set_following(True)

    def action_scroll_end(self) -> None:
        self._set_following(True)

    def release_anchor(self) -> None:
        """Textual calls this when the user scrolls (wheel, keys, scrollbar)."""
        super().release_anchor()
        self.call_later(self._after_user_scroll)

    def _after_user_scroll(self) -> None:
        if self.scroll_target_y < self.max_scroll_y:
            if self.following:
                self.following = False
                self.anchor(False)
            if self.scroll_target_y <= 0:
                self._request_older()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._maybe_refollow()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if self.scroll_y <= 0:
            self._request_older()

    def action_page_down(self) -> None:
        super().action_page_down()
        self._maybe_refollow()

    def action_scroll_home(self) -> None:
        super().action_scroll_home()
        self._request_older()

    def _maybe_refollow(self) -> None:
        """Scrolling back down to the very bottom is the user asking to follow again."""
        if not self.following and self.scroll_target_y >= self.max_scroll_y:
            self._set_following(True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self._schedule_virtualize()
        if new_value <= 0 < old_value and not self.following:
            self._request_older()

    # -- older messages ---------------------------------------------------------------
    def _request_older(self) -> None:
        if self._older and self._ready and not self._loading_older:
            self._loading_older = True
            self.call_later(self._load_older)

    async def _load_older(self) -> None:
        """Mount the next batch of older messages above, keeping the view where it was."""
        try:
            batch = self._older[-OLDER_BATCH:]
            del self._older[-OLDER_BATCH:]
            views = self.views
            first = views[0] if views else None
            old_y = first.virtual_region.y if first is not None else 0
            new_views = [self._view(m) for m in batch]
            if first is not None:
                await self.mount_all(new_views, before=first)
            else:
                await self.mount_all(new_views)
        except BaseException:
            self._loading_older = False
            raise

        def keep_place() -> None:
            # Still loading until the view is moved: a second batch measured before this
            # one is placed would add its height twice (the view jumped to the end).
            self._loading_older = False
            if first is not None:
                self._shift_view(first.virtual_region.y - old_y)
            self._schedule_virtualize()  # long messages start with cold chunks
            if self._older and self.max_scroll_y < self.size.height:
                self._request_older()

        self.call_after_refresh(keep_place)

    # -- moving between messages ------------------------------------------------------
    def action_focus_previous(self) -> None:
        self._move_focus(-1)

    def action_focus_next(self) -> None:
        self._move_focus(1)

    def _move_focus(self, step: int) -> None:
        views = self.views
        if not views:
            return
        current = self.focused_view()
        if current is None:
            target = views[-1]
        else:
            index = views.index(current) + step
            if index < 0:
                self._request_older()
                return
            if index >= len(views):
                self._set_following(True)
                return
            target = views[index]
        target.focus()
        target.scroll_visible(animate=False, top=target.outer_size.height > self.size.height)
