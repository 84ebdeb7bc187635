"""A layout only a streaming reply asked for arranges the reply alone, and places every
widget exactly where a layout of the whole screen would (`message_reflow.verify_each`, on
in every UI test, compares the two maps after each such layout)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import pytest
from textual.app import App, ComposeResult
from textual.dom import DOMNode
from textual.widget import Widget
from textual.widgets import Footer, Static

from tests.ui.test_message_log import T0, _reply, settle
from tui.app import message_reflow
from tui.app.widgets.message_log import MessageLog
from tui.app.widgets.message_view import BlockChunk, MessageView, ReplyView
from tui.core.session import Message, Role

if TYPE_CHECKING:
    from textual._compositor import Compositor
    from textual.geometry import Size
    from textual.screen import Screen


REPLY = """# Plan

A paragraph with **bold** and `code`, long enough to wrap over two lines at this width of
the log, and then some more words.

- first item
- second item, which wraps: lorem ipsum dolor sit amet, consectetur adipiscing elit
  - nested item

```python
def main():
    return compute(1)
```

| name | value |
|------|-------|
| a    | 1     |
| 中文 | 表格  |

> a quote
> over lines

## Next

中文段落：流式渲染只更新最后一个块。

Final paragraph.
"""


def _user(text: str) -> Message:
    return Message(role=Role.USER, created_at=T0, text=text)


class ChatLikeApp(App[None]):
    """A log beside other widgets, as in the app: they must keep their places."""

    CSS = "Static { height: 3; }"

    def compose(self) -> ComposeResult:
        yield Static("above the log")
        yield MessageLog()
        yield Footer()


@pytest.fixture
def reflows(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many layouts arranged one message alone, and how many the whole screen."""
    counts: Counter[str] = Counter()
    alone = message_reflow._reflow_view

    def counted(compositor: Compositor, screen: Screen[object], size: Size, view: Widget) -> object:
        result = alone(compositor, screen, size, view)
        counts["message" if result is not None else "screen"] += 1
        return result

    monkeypatch.setattr(message_reflow, "_reflow_view", counted)
    return counts


async def test_a_streaming_reply_is_laid_out_alone_where_nothing_else_moves(
    reflows: Counter[str],
) -> None:
    app = ChatLikeApp()
    async with app.run_test(size=(90, 30)) as pilot:
        log = app.query_one(MessageLog)
        await log.add_message(_user("Plan it, please."))
        reply = await log.begin_reply("test:model")
        text = REPLY + REPLY
        for i in range(0, len(text), 25):
            reply.append_text(text[i : i + 25])
            await settle(pilot, reply)
        await reply.finish(_reply(text))
        await pilot.pause()
        # Blocks mounted and grown inside the reserve: the reply alone. The reserve
        # renewed (the reply's height changes, the log scrolls): the whole screen.
        assert reflows["message"] >= 8  # about 20
        assert reflows["screen"] >= 1
        assert app.query_one(Static).region.y == 0
        assert log.region.y == 3


async def test_a_request_from_outside_the_message_lays_out_the_whole_screen() -> None:
    app = ChatLikeApp()
    async with app.run_test(size=(90, 30)) as pilot:
        log = app.query_one(MessageLog)
        await log.add_message(_user("First."))
        await log.add_message(_user("Second."))
        await pilot.pause()
        first, second = log.query(MessageView)
        chunk, body = first.query_one(BlockChunk), first.body
        requests = app.screen._layout_widgets
        only_first: dict[DOMNode, set[Widget]] = {
            chunk: {chunk.children[0]},
            body: {chunk},
            first: {body},
            log: {first},
        }

        requests.clear()
        requests.update(only_first)
        assert message_reflow._only_view(app.screen) is first

        requests[app.screen] = {app.query_one(Footer)}  # the footer's keys changed too
        assert message_reflow._only_view(app.screen) is None

        requests.clear()
        requests.update(only_first)
        requests[log] = {first, second}  # the log arranges two of its messages
        assert message_reflow._only_view(app.screen) is None

        requests.clear()
        requests.update(only_first)
        requests[second] = {second.body}
        assert message_reflow._only_view(app.screen) is None
        requests.clear()


async def test_a_reply_that_outgrows_its_height_lays_out_the_whole_screen(
    reflows: Counter[str],
) -> None:
    """The reply grows past its reserve in one go: its height changes, and the log with it
    (its scrollbar, its scroll): the whole screen is laid out."""
    app = ChatLikeApp()
    async with app.run_test(size=(90, 30)) as pilot:
        log = app.query_one(MessageLog)
        reply = await log.begin_reply("test:model")
        reply.append_text("Intro.\n\n")
        await settle(pilot, reply)
        reflows.clear()
        reply.append_text("".join(f"Paragraph {i}.\n\n" for i in range(40)))
        await settle(pilot, reply)
        assert reflows["screen"] >= 1
        assert isinstance(reply, ReplyView)
        assert reply.region.height >= 40
