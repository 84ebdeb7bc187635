"""The Textual messages the reply worker posts to the chat screen.

Text itself never travels in a message: the worker hands each delta straight to the
`ReplyView` (a direct call), which buffers and coalesces it on a timer. What is posted here
are figures for the footer, at most a few per second, and the ends of a reply. Every
message names the session it belongs to: a reply keeps streaming into its own session
while another one is on screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from tui.core.errors import LiuError
from tui.core.session import Message as SessionMessage
from tui.core.session import Session, Usage


class Reply:
    """Namespace: `Reply.Finished` is handled by `on_reply_finished`."""

    @dataclass
    class Started(Message):
        session_id: str
        model_id: str

    @dataclass
    class UsageUpdated(Message):
        """The provider's own counts: they replace the estimates."""

        session_id: str
        usage: Usage

    @dataclass
    class Retrying(Message):
        """A failure before the first token that the retry policy will try again."""

        session_id: str
        error: LiuError
        wait: float
        attempt: int

    @dataclass
    class Finished(Message):
        session_id: str
        message: SessionMessage
        session: Session

    @dataclass
    class Failed(Message):
        """Ended early: an error, or stopped by the user (`cancelled`)."""

        session_id: str
        error_line: str
        message: SessionMessage | None
        cancelled: bool = False


# The names the brief and the design use, for readers grepping for them.
ReplyStarted = Reply.Started
UsageUpdated = Reply.UsageUpdated
ReplyRetrying = Reply.Retrying
ReplyFinished = Reply.Finished
ReplyFailed = Reply.Failed
