"""The app driven as a user would (Pilot), against the loopback server: no timing assertions,
only states waited for with a generous bound."""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import Label

from tests.server import FakeLLMServer, Reply
from tests.ui.conftest import MakeApp, lab_config, wait_until, write_config
from tui import gc_tuning
from tui.app import app as app_module
from tui.app.app import LiuApp, load_theme_file, load_themes
from tui.app.clipboard import clipboard_sequence, osc52, wrap_for_multiplexer
from tui.app.screens.chat import ChatScreen, ChoicePrompt, TextPrompt
from tui.app.screens.first_run import FirstRunScreen
from tui.app.widgets.input_bar import InputBar
from tui.app.widgets.message_view import ReplyView
from tui.app.widgets.model_picker import ModelPicker
from tui.app.widgets.session_list import SessionList, SessionOptions
from tui.core.library import Library
from tui.core.session import Message, Role, Session, now


async def settle(pilot: Pilot[int]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def chat_of(app: LiuApp) -> ChatScreen:
    return app.chat


def live_text(chat: ChatScreen) -> str:
    return "".join(chat.live.text) if chat.live is not None else ""


def read_session(session_id: str) -> Session:
    lib = Library.open()
    try:
        path = lib.index.path_of(session_id)
        assert path is not None
        return lib.store.read(path).session
    finally:
        lib.close()


def make_session(title: str, text: str, reply: str = "") -> Session:
    session = Session(title=title, model_id="lab:fake-model")
    session.messages.append(Message(Role.USER, now(), text))
    if reply:
        session.messages.append(Message(Role.ASSISTANT, now(), reply, model="lab:fake-model"))
    lib = Library.open()
    lib.store.create(session)
    lib.close()
    return session


async def type_and_send(pilot: Pilot[int], text: str) -> None:
    chat = chat_of(pilot.app)  # type: ignore[arg-type]
    chat.input_bar.focus()
    await pilot.press(*text)
    await pilot.press("enter")


# -------------------------------------------------------------------- send and stream


async def test_send_and_stream_a_reply(lab_server: FakeLLMServer, make_app: MakeApp) -> None:
    lab_server.script(Reply(text="Hello from the lab, streamed in pieces.", prompt_tokens=7))
    app = make_app(new=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "hi there")
        await settle(pilot)
        chat = chat_of(app)
        session = read_session(chat.session.session_id)
        assert [m.role for m in session.messages] == [Role.USER, Role.ASSISTANT]
        assert session.messages[0].text == "hi there"
        reply = session.messages[1]
        assert reply.text == "Hello from the lab, streamed in pieces."
        assert reply.status is None and reply.model == "lab:fake-model"
        assert session.title == "hi there"
        # The request carried the system prompt and the user's text.
        body = lab_server.chat_requests()[-1].body
        assert body["messages"][-1] == {"role": "user", "content": "hi there"}
        # The footer: provider figures (no ~), the reply's cost and the session's.
        line = chat.footer_figures.text()
        assert "lab:fake-model" in line and "7 in" in line and "~" not in line
        assert "reply $" in line and "session $" in line
        # The list shows the new session first, titled by the prompt.
        assert chat.session_list.rows[0].title == "hi there"
        assert chat.input_bar.text == ""


async def test_typing_the_first_prompt_prepares_the_http_client(
    lab_server: FakeLLMServer, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui.app import warmup

    monkeypatch.setattr(warmup, "_thread", None)  # as in a process that sent nothing yet
    lab_server.script(Reply(text="Ready."))
    app = make_app(new=True)
    async with app.run_test(size=(100, 30)) as pilot:
        assert app._client is None  # not built at start-up: it would slow it down
        chat = chat_of(app)
        chat.input_bar.focus()
        await pilot.press("h", "i")
        assert warmup._thread is not None  # the lexers are being prepared too
        thread = app._client_thread
        assert thread is not None and thread.name == "liu-client"
        thread.join(timeout=30)
        client = app._client
        assert client is not None
        assert app.prepare_http_client() is None  # once
        await pilot.press("enter")
        await settle(pilot)
        assert app.http_client() is client  # the reply went through it
        assert read_session(chat.session.session_id).messages[-1].text == "Ready."


async def test_the_finished_reply_is_painted_without_waiting_for_a_tick(
    lab_server: FakeLLMServer, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the screen has handled the end of a reply, the finished reply and its figures
    are laid out and painted already: nothing waits for the next tick of Textual's 60 Hz
    update timer (20-25 ms after a fast reply, measured)."""
    left_to_paint: list[bool] = []
    handled = ChatScreen.on_reply_finished

    def on_reply_finished(screen: ChatScreen, event: Any) -> None:
        handled(screen, event)
        left_to_paint.append(
            bool(screen._layout_required or screen._repaint_required or screen._dirty_widgets)
        )

    monkeypatch.setattr(ChatScreen, "on_reply_finished", on_reply_finished)
    lab_server.script(Reply(text="Done and dusted."))
    app = make_app(new=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "go")
        await settle(pilot)
        assert left_to_paint == [False]
        assert chat_of(app).log_widget.views[-1].message.text == "Done and dusted."


async def test_the_finished_reply_is_indexed_after_its_frame(
    lab_server: FakeLLMServer, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reply's file is written before the view finishes; the session is re-indexed (its
    text for search, its row in the list) only after the frame that shows the reply."""
    indexed_at_the_frame: list[bool] = []
    handled = ChatScreen.on_reply_finished

    def on_reply_finished(screen: ChatScreen, event: Any) -> None:
        handled(screen, event)
        indexed_at_the_frame.append(bool(screen.liu.library.index.search("quokkas")))
        path = screen.liu.library.index.path_of(event.session_id)
        assert path is not None and "Quokkas are cheerful." in path.read_text()

    monkeypatch.setattr(ChatScreen, "on_reply_finished", on_reply_finished)
    lab_server.script(Reply(text="Quokkas are cheerful."))
    app = make_app(new=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "go")
        await settle(pilot)
        chat = chat_of(app)
        await wait_until(pilot, lambda: bool(chat.liu.library.index.search("quokkas")))
        assert indexed_at_the_frame == [False]
        await wait_until(pilot, lambda: chat.session_list.rows[0].message_count == 2)


async def test_no_garbage_collection_between_a_replys_end_and_its_frame(
    lab_server: FakeLLMServer, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From the end of the stream to the frame that shows the finished reply the cyclic
    collector waits (a full collection with a long reply alive took 20-60 ms of that lag),
    and it runs again once that frame is painted."""
    collecting: list[tuple[str, bool]] = []
    finish = ReplyView.finish
    handled = ChatScreen.on_reply_finished

    async def finishing(view: ReplyView, message: Message) -> None:
        collecting.append(("finish", gc.isenabled()))
        await finish(view, message)

    def on_reply_finished(screen: ChatScreen, event: Any) -> None:
        handled(screen, event)
        collecting.append(("after the frame", gc.isenabled()))

    monkeypatch.setattr(ReplyView, "finish", finishing)
    monkeypatch.setattr(ChatScreen, "on_reply_finished", on_reply_finished)
    lab_server.script(Reply(tokens=30))
    app = make_app(new=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "go")
        await settle(pilot)
        assert collecting == [("finish", False), ("after the frame", True)]
        gc_tuning.hold()  # as if the app quit between a reply's end and its frame
    assert gc.isenabled()


async def test_streaming_goes_through_the_reply_view(
    lab_server: FakeLLMServer, make_app: MakeApp
) -> None:
    lab_server.script(Reply(tokens=40, stall_after=5, stall_seconds=0.5))
    app = make_app(new=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "go")
        chat = chat_of(app)
        await wait_until(pilot, lambda: live_text(chat).startswith("w0 w1 w2 w3 w4"))
        view = chat.live.view if chat.live else None
        assert isinstance(view, ReplyView)
        assert view.text.startswith("w0 w1 w2 w3 w4")
        assert chat.check_action("stop", ()) is True  # Esc applies now (the footer shows it)
        assert "~" in chat.footer_figures.text() or chat.footer_figures.figures.streaming
        # The input's cursor does not blink while the reply moves (each blink is a frame).
        assert chat.input_bar.cursor_blink is False
        await settle(pilot)
        assert chat.live is None
        assert chat.input_bar.cursor_blink is True
        assert read_session(chat.session.session_id).messages[-1].text.rstrip().endswith("w39")


async def test_the_footer_count_changes_with_the_text_it_counts(
    lab_server: FakeLLMServer, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The footer's estimate is updated when the reply's text is put on screen, in the same
    turn, so that one frame paints both (a message would be handled after that frame)."""
    counted: list[int | None] = []
    render = ReplyView._render_pending

    def render_pending(view: ReplyView) -> None:
        render(view)
        if view.text:
            counted.append(chat_of(view.app).footer_figures.figures.completion_tokens)  # type: ignore[arg-type]

    monkeypatch.setattr(ReplyView, "_render_pending", render_pending)
    lab_server.script(Reply(tokens=40, stall_after=5, stall_seconds=0.6))
    app = make_app(new=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "go")
        chat = chat_of(app)
        await wait_until(pilot, lambda: live_text(chat).startswith("w0 w1 w2 w3 w4"))
        assert counted and counted[0]  # the first text came with its count
        assert chat.footer_figures.figures.streaming
        await settle(pilot)


# -------------------------------------------------------------------- stop and continue


async def test_stop_mid_stream_with_escape_then_continue(
    lab_server: FakeLLMServer, make_app: MakeApp
) -> None:
    lab_server.script(
        Reply(tokens=50, stall_after=5, stall_seconds=30), Reply(text="and the rest.")
    )
    app = make_app(new=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "count for me")
        chat = chat_of(app)
        await wait_until(pilot, lambda: live_text(chat).startswith("w0 w1 w2 w3 w4"))
        await pilot.press("escape")
        await settle(pilot)
        assert chat.live is None
        session = read_session(chat.session.session_id)
        partial = session.messages[-1]
        assert partial.role is Role.ASSISTANT
        assert partial.text.rstrip() == "w0 w1 w2 w3 w4"
        assert partial.status is not None and partial.status.reason == "cancelled"
        # The log says what happened and what to do.
        view = chat.log_widget.views[-1]
        error = str(view.query_one(".message--error", Label).render())
        assert "Stopped" in error and "Ctrl+G" in error
        # The server saw the client go.
        await wait_until(pilot, lambda: lab_server.disconnects >= 1)

        await pilot.press("ctrl+g")
        await settle(pilot)
        session = read_session(chat.session.session_id)
        assert [m.role for m in session.messages] == [Role.USER, Role.ASSISTANT, Role.ASSISTANT]
        assert session.messages[-1].text == "and the rest."
        assert session.messages[-1].status is None
        # The continuation was asked with the partial in the history.
        history = lab_server.chat_requests()[-1].body["messages"]
        assert history[-1]["role"] == "assistant"
        assert history[-1]["content"].rstrip() == "w0 w1 w2 w3 w4"


async def test_regenerate_replaces_the_last_reply(
    lab_server: FakeLLMServer, make_app: MakeApp
) -> None:
    lab_server.script(Reply(text="first answer"), Reply(text="second answer"))
    app = make_app(new=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "question")
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        session = read_session(chat_of(app).session.session_id)
        assert [m.text for m in session.messages] == ["question", "second answer"]


async def test_up_recalls_the_last_prompt_and_resending_replaces_the_exchange(
    lab_server: FakeLLMServer, make_app: MakeApp
) -> None:
    lab_server.script(Reply(text="answer one"), Reply(text="answer two"))
    app = make_app(new=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "wrong question")
        await settle(pilot)
        bar = chat_of(app).input_bar
        await pilot.press("up")
        assert bar.text == "wrong question"
        for _ in "question":
            await pilot.press("backspace")
        await pilot.press(*"answer", "enter")
        await settle(pilot)
        session = read_session(chat_of(app).session.session_id)
        assert [m.text for m in session.messages] == ["wrong answer", "answer two"]


async def test_alt_enter_and_ctrl_j_break_the_line(
    make_app: MakeApp, lab_server: FakeLLMServer
) -> None:
    app = make_app(new=True)
    async with app.run_test(size=(100, 30)) as pilot:
        bar = chat_of(app).input_bar
        await pilot.press("a", "alt+enter", "b", "ctrl+j", "c")
        assert bar.text == "a\nb\nc"


async def test_a_large_paste_stays_intact(make_app: MakeApp, lab_server: FakeLLMServer) -> None:
    from textual import events

    text = "\n".join(f"line {i} " + "x" * 100 for i in range(2000))
    app = make_app(new=True)
    async with app.run_test(size=(100, 30)) as pilot:
        bar = chat_of(app).input_bar
        app.post_message(events.Paste(text))  # as the driver sends it
        await pilot.pause()
        assert bar.text == text
        assert lab_server.chat_requests() == []  # pasted newlines never send


# -------------------------------------------------------------------- models


async def test_switch_model_and_send_again(lab_server: FakeLLMServer, make_app: MakeApp) -> None:
    lab_server.script(Reply(text="from the first"), Reply(text="from the second"))
    app = make_app(new=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await type_and_send(pilot, "one")
        await settle(pilot)
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelPicker))
        picker = app.screen
        assert isinstance(picker, ModelPicker)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        rows = {r.model_id: r for r in picker.rows}
        assert rows["lab:fake-model"].price_text() == "$1.00 / $2.00"
        assert rows["openai:gpt-4.1"].key_text() == "set OPENAI_API_KEY"
        await pilot.press(*"reasoner", "enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, ModelPicker))
        chat = chat_of(app)
        assert chat.model_id == "lab:fake-reasoner"
        assert read_session(chat.session.session_id).model_id == "lab:fake-reasoner"
        await type_and_send(pilot, "two")
        await settle(pilot)
        session = read_session(chat.session.session_id)
        assert [m.model for m in session.messages if m.role is Role.ASSISTANT] == [
            "lab:fake-model",
            "lab:fake-reasoner",
        ]
        assert [r.body["model"] for r in lab_server.chat_requests()] == [
            "fake-model",
            "fake-reasoner",
        ]
        text = Path(lab_server_path(session.session_id)).read_text(encoding="utf-8")
        assert '"lab:fake-model"' in text and '"lab:fake-reasoner"' in text


def lab_server_path(session_id: str) -> Path:
    lib = Library.open()
    try:
        path = lib.index.path_of(session_id)
        assert path is not None
        return path
    finally:
        lib.close()


# -------------------------------------------------------------------- sessions


async def test_switching_sessions_while_streaming_keeps_the_reply_in_its_own_session(
    lab_server: FakeLLMServer, make_app: MakeApp
) -> None:
    other = make_session("the other one", "an older question", "an older answer")
    lab_server.script(Reply(tokens=20, stall_after=3, stall_seconds=1.0))
    app = make_app(new=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await type_and_send(pilot, "stream into me")
        chat = chat_of(app)
        mine = chat.session.session_id
        await wait_until(pilot, lambda: live_text(chat).startswith("w0 w1 w2"))
        # Away: the other session shows, with no reply streaming into it.
        assert await chat.open_session(other.session_id)
        assert chat.live is not None and chat.live.session_id == mine
        assert chat.live.view is None
        assert not any(isinstance(v, ReplyView) for v in chat.log_widget.views)
        # Back while it still streams: the reply so far shows, and goes on.
        assert await chat.open_session(mine)
        live = chat.live
        assert live is not None and isinstance(live.view, ReplyView)
        assert live.view.text.startswith("w0 w1 w2")
        # Away again until it ends.
        assert await chat.open_session(other.session_id)
        await settle(pilot)
        assert read_session(other.session_id).messages == other.messages
        done = read_session(mine)
        assert done.messages[-1].text.rstrip().endswith("w19") and done.messages[-1].status is None
        assert await chat.open_session(mine)
        assert chat.log_widget.views[-1].message.text.rstrip().endswith("w19")


async def test_session_list_search_filters_as_you_type(
    lab_server: FakeLLMServer, make_app: MakeApp
) -> None:
    make_session("apples", "tell me about apples")
    banana = make_session("fruit talk", "why is a banana curved?")
    make_session("cherries", "cherry season")
    app = make_app(new=True)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = chat_of(app)
        assert len(chat.session_list.rows) == 3
        await pilot.press("ctrl+f")
        assert chat.session_list.filter_input.has_focus
        await pilot.press(*"banan")
        await wait_until(pilot, lambda: len(chat.session_list.rows) == 1)
        assert chat.session_list.rows[0].session_id == banana.session_id
        await pilot.press("enter")
        await settle(pilot)
        assert chat.session.session_id == banana.session_id
        assert chat.input_bar.has_focus


async def test_session_list_folds_away_when_narrow_and_ctrl_s_toggles(
    lab_server: FakeLLMServer, make_app: MakeApp
) -> None:
    app = make_app(new=True)
    async with app.run_test(size=(80, 24)) as pilot:
        chat = chat_of(app)
        assert not chat.session_list.display
        await pilot.press("ctrl+s")
        assert chat.session_list.display
        await pilot.press("ctrl+s")
        assert not chat.session_list.display
    app = make_app(new=True)
    async with app.run_test(size=(120, 30)) as pilot:
        assert chat_of(app).session_list.display


async def test_rename_delete_and_undo(
    lab_server: FakeLLMServer, make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    target = make_session("old name", "hello")
    app = make_app(new=True)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = chat_of(app)
        chat.session_list.options.focus()
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, TextPrompt))
        await pilot.press("end", *" renamed", "enter")
        await pilot.pause()
        assert read_session(target.session_id).title == "old name renamed"
        await pilot.press("ctrl+e")
        await pilot.pause()
        exported = list(tmp_path.glob("liu-*.md"))
        assert len(exported) == 1 and "hello" in exported[0].read_text(encoding="utf-8")
        await pilot.press("delete")
        await pilot.pause()
        assert chat.session_list.rows == []
        assert app.last_trashed == target.session_id
        await app.run_action("undo_delete")
        await pilot.pause()
        assert [r.session_id for r in chat.session_list.rows] == [target.session_id]


async def test_new_session_asks_for_an_assistant_when_there_are_several(
    liu_home: Path, make_app: MakeApp
) -> None:
    extra = """
[[assistants]]
id = "poet"
name = "Poet"
system_prompt = "Answer in verse."
"""
    write_config(liu_home, lab_config(9, extra))
    app = make_app(new=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoicePrompt))
        await pilot.press("down", "enter")
        await pilot.pause()
        assert chat_of(app).session.assistant_id == "poet"


async def test_drafts_are_kept_per_session_and_across_restarts(
    lab_server: FakeLLMServer, make_app: MakeApp, liu_home: Path
) -> None:
    first = make_session("first", "q1")
    second = make_session("second", "q2")
    app = make_app(session=first.session_id[:8])
    async with app.run_test(size=(120, 40)) as pilot:
        chat = chat_of(app)
        assert chat.session.session_id == first.session_id
        await pilot.press(*"half a thought")
        assert await chat.open_session(second.session_id)
        assert chat.input_bar.text == ""
        assert await chat.open_session(first.session_id)
        assert chat.input_bar.text == "half a thought"
    drafts = liu_home / "drafts.json"
    assert json.loads(drafts.read_text(encoding="utf-8")) == {first.session_id: "half a thought"}
    assert stat.S_IMODE(drafts.stat().st_mode) == 0o600
    app = make_app(session=first.session_id)
    async with app.run_test(size=(120, 40)):
        assert chat_of(app).input_bar.text == "half a thought"


# -------------------------------------------------------------------- copy


async def test_copy_writes_osc52_and_wraps_it_for_tmux(
    lab_server: FakeLLMServer, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab_server.script(Reply(text="copy me, 流"))
    monkeypatch.delenv("STY", raising=False)
    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
    app = make_app(new=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "say something")
        await settle(pilot)
        written: list[str] = []
        assert app._driver is not None
        monkeypatch.setattr(app._driver, "write", written.append)
        await pilot.press("ctrl+y")
        payload = base64.b64encode("copy me, 流".encode()).decode()
        assert written == [f"\x1bPtmux;\x1b\x1b]52;c;{payload}\a\x1b\\"]
        assert app.clipboard == "copy me, 流"


def test_clipboard_sequences() -> None:
    assert osc52("hi") == "\x1b]52;c;aGk=\a"
    assert clipboard_sequence("hi", {}) == "\x1b]52;c;aGk=\a"
    assert wrap_for_multiplexer("\x1bX", {"TMUX": "1"}) == "\x1bPtmux;\x1b\x1bX\x1b\\"
    long = osc52("x" * 2000)
    wrapped = wrap_for_multiplexer(long, {"STY": "1.pts"})
    pieces = wrapped.split("\x1b\\")[:-1]
    assert all(p.startswith("\x1bP") and len(p) <= 2 + 768 for p in pieces)
    assert "".join(p[2:] for p in pieces) == long


# -------------------------------------------------------------------- errors


async def test_429_then_success(lab_server: FakeLLMServer, make_app: MakeApp) -> None:
    lab_server.script(
        Reply.error(429, headers={"retry-after": "1"}, error_message="slow down"),
        Reply(text="made it"),
    )
    app = make_app(new=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "hello")
        await settle(pilot)
        session = read_session(chat_of(app).session.session_id)
        assert session.messages[-1].text == "made it"
        assert len(lab_server.chat_requests()) == 2
        assert any("retry 1" in n.message for n in app._notifications)


async def test_an_error_shows_where_the_reply_would_be(liu_home: Path, make_app: MakeApp) -> None:
    write_config(liu_home, 'default_model = "openai:gpt-4.1"\n')
    app = make_app(new=True)
    async with app.run_test(size=(100, 30)) as pilot:
        assert not isinstance(app.screen, FirstRunScreen)  # a default model is configured
        await type_and_send(pilot, "hello?")
        await settle(pilot)
        view = chat_of(app).log_widget.views[-1]
        line = str(view.query_one(".message--error", Label).render())
        assert "OPENAI_API_KEY" in line and "Ctrl+O" in line
        session = read_session(chat_of(app).session.session_id)
        assert [m.text for m in session.messages] == ["hello?"]  # the prompt is never lost


async def test_401_says_which_key_to_fix(lab_server: FakeLLMServer, make_app: MakeApp) -> None:
    lab_server.script(Reply.error(401, error_message="Incorrect API key provided"))
    app = make_app(new=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "hello")
        await settle(pilot)
        view = chat_of(app).log_widget.views[-1]
        line = str(view.query_one(".message--error", Label).render())
        assert "401" in line


async def test_network_gone_says_try_again(liu_home: Path, make_app: MakeApp) -> None:
    from tests.ui.conftest import free_port

    write_config(liu_home, lab_config(free_port()))
    app = make_app(new=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "anyone?")
        await settle(pilot)
        view = chat_of(app).log_widget.views[-1]
        line = str(view.query_one(".message--error", Label).render())
        assert "cannot reach" in line and "Ctrl+G" in line


# -------------------------------------------------------------------- first run


async def test_first_run_says_what_to_set_and_lists_local_servers(
    liu_home: Path, make_app: MakeApp, seed_session: Session
) -> None:
    from tests.server import running_server

    with running_server() as server:
        app = make_app(local_ports=(server.port,))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, FirstRunScreen))
            screen = app.screen
            assert isinstance(screen, FirstRunScreen)
            await wait_until(pilot, lambda: not screen.searching)
            keys = str(screen.query_one("#first-run-keys").render())
            assert "OPENAI_API_KEY" in keys and "DEEPSEEK_API_KEY" in keys
            assert "pip install 'liu[local]'" in keys  # the extra is not installed here
            assert [s.models for s in screen.servers] == [("fake-model", "fake-reasoner")]
            await pilot.press("enter")
            await wait_until(pilot, lambda: not isinstance(app.screen, FirstRunScreen))
            model_id = f"local{server.port}:fake-model"
            assert chat_of(app).model_id == model_id
            config = (liu_home / "config.toml").read_text(encoding="utf-8")
            assert f'default_model = "{model_id}"' in config


async def test_first_run_can_be_dismissed_to_read_sessions(
    liu_home: Path, make_app: MakeApp, seed_session: Session
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, FirstRunScreen))
        screen = app.screen
        assert isinstance(screen, FirstRunScreen)
        await wait_until(pilot, lambda: not screen.searching)
        assert screen.servers == []
        await pilot.press("escape")
        await pilot.pause()
        chat = chat_of(app)
        assert app.screen is chat
        assert chat.session.session_id == seed_session.session_id
        assert chat.log_widget.views[-1].message.text == seed_session.messages[-1].text


# -------------------------------------------------------------------- app shell


def _all_bindings() -> list[tuple[str, Binding]]:
    from tui.app.widgets.cost_footer import CostFooter

    classes: list[type] = [
        LiuApp,
        ChatScreen,
        InputBar,
        SessionList,
        SessionOptions,
        ModelPicker,
        FirstRunScreen,
        TextPrompt,
        ChoicePrompt,
        CostFooter,
    ]
    out = []
    for cls in classes:
        for binding in cls.__dict__.get("BINDINGS", []):
            assert isinstance(binding, Binding)
            out.append((cls.__name__, binding))
    return out


def test_every_binding_has_an_id_and_none_takes_a_multiplexer_prefix() -> None:
    bindings = _all_bindings()
    assert bindings
    for owner, binding in bindings:
        assert binding.id, f"{owner}: {binding.key} has no id"
        keys = {k.strip() for k in binding.key.split(",")}
        assert not keys & {"ctrl+b", "ctrl+a"}, f"{owner}: {binding.key}"


async def test_keys_are_remappable_from_config(liu_home: Path, make_app: MakeApp) -> None:
    write_config(liu_home, lab_config(9, '[keys]\nswitch_model = "f4"\nsend = "ctrl+t"\n'))
    app = make_app(new=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelPicker))
        await pilot.press("escape")
        await pilot.pause()
        chat = chat_of(app)
        chat.input_bar.focus()
        await pilot.press("a", "enter", "b")
        assert chat.input_bar.text == "a\nb"  # Enter only breaks the line now


async def test_themes_load_save_and_a_broken_one_warns(
    liu_home: Path, make_app: MakeApp, lab_server: FakeLLMServer
) -> None:
    user = liu_home / "themes"
    user.mkdir(parents=True)
    (user / "broken.toml").write_text('name = "broken"\nprimary = "not a colour"\n')
    (user / "mine.toml").write_text('name = "mine"\nprimary = "#ff8800"\ndark = true\n')
    app = make_app(new=True, theme_folders=[app_module.shipped_themes_dir(), user])
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.theme == "liu-ink"
        assert {"liu-ink", "liu-paper", "liu-ansi", "mine"} <= set(app.available_themes)
        assert any("broken.toml" in n.message for n in app._notifications)
        app.theme = "mine"
        await pilot.pause()
        assert 'theme = "mine"' in (liu_home / "config.toml").read_text(encoding="utf-8")


def test_theme_files_ship_and_parse() -> None:
    themes, warnings = load_themes([app_module.shipped_themes_dir()])
    assert warnings == []
    assert {t.name for t in themes} == {"liu-ink", "liu-paper", "liu-ansi"}
    with pytest.raises(app_module.ThemeFileError):
        load_theme_file(Path(__file__))


async def test_low_bandwidth_uses_the_ansi_theme(
    lab_server: FakeLLMServer, make_app: MakeApp
) -> None:
    app = make_app(new=True, low_bandwidth=True)
    async with app.run_test(size=(80, 24)):
        assert app.theme == "liu-ansi"


def test_a_broken_config_is_one_line_and_exit_2(
    liu_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(liu_home, "default_model = \n")
    args = argparse.Namespace(model=None, session=None, new=False, low_bandwidth=False)
    assert app_module.run(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("liu: ") and err.count("\n") == 1


async def test_palette_lists_liu_commands(lab_server: FakeLLMServer, make_app: MakeApp) -> None:
    app = make_app(new=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"toggle session")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert not chat_of(app).session_list.display


def test_env_is_clean() -> None:
    assert "NO_COLOR" not in os.environ


# -------------------------------------------------------------------- garbage collection


def test_the_app_collects_young_garbage_less_often_and_freezes_start_up_objects(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui import cli

    monkeypatch.setattr(gc_tuning, "_frozen", False)
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        with pytest.raises(SystemExit):  # `liu` tunes first thing, before its imports
            cli.main(["--version"])
        assert gc.get_threshold() == (gc_tuning.YOUNG_THRESHOLD, 10, 10)
        gc.set_threshold(700, 10, 10)
        make_app(new=True)  # built directly (tests, benchmarks): tuned too
        assert gc.get_threshold() == (gc_tuning.YOUNG_THRESHOLD, 10, 10)
        assert gc.get_freeze_count() > 0
        frozen = gc.get_freeze_count()
        make_app(new=True)
        assert gc.get_freeze_count() == frozen  # once per process
    finally:
        gc.set_threshold(*before)
