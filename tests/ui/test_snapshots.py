"""SVG snapshots of the app at 120x40 and 80x24 (kept in the top-level `snapshots/`).

Each test's docstring says what you should see. The clock, the theme (liu-ink) and the
terminal size are fixed; the engine's own clock is pinned so file times are too.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.ui.conftest import FixedDatetime, MakeApp, free_port, lab_config, write_config
from tui.app.screens.chat import ChatScreen, LiveReply
from tui.app.screens.first_run import FirstRunScreen
from tui.app.widgets.cost_footer import Figures
from tui.app.widgets.model_picker import ModelPicker
from tui.core.library import Library
from tui.core.session import Message, Role, Session

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]
AT = datetime(2026, 2, 1, 11, 58, 0)

STREAMED = """Streaming means the reply arrives **token by token** while the model writes it.

1. The request asks for `stream: true`.
2. The server answers with server-sent events, one small JSON object each.
3. The client appends each piece to what is on screen.

```python
async for event in stream:
    print(event.text, end="")
```

So you can read the start of a long answer before the end"""


@pytest.fixture(autouse=True)
def _engine_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    from tui.core import turn

    monkeypatch.setattr(turn, "now", FixedDatetime.now)


def _store(session: Session) -> None:
    lib = Library.open()
    lib.store.create(session)
    lib.close()


def _asked_session() -> Session:
    session = Session(title="What does streaming mean?", created_at=AT, model_id="lab:fake-model")
    session.messages.append(Message(Role.USER, AT, "What does streaming output mean for an LLM?"))
    return session


def _chat(pilot: Pilot[Any]) -> ChatScreen:
    screen = pilot.app.screen_stack[1]
    assert isinstance(screen, ChatScreen)
    return screen


async def _settle(pilot: Pilot[Any]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_first_run(
    snap_compare: Any, liu_home: Path, make_app: MakeApp, size: tuple[int, int]
) -> None:
    """You should see the welcome dialog: an `export NAME=...` line per provider with its
    first models, a note on local servers, "No local server answered", and Esc / Ctrl+Q."""
    app = make_app(local_ports=(9,))  # the discard port: nobody answers

    async def run_before(pilot: Pilot[Any]) -> None:
        while not isinstance(pilot.app.screen, FirstRunScreen) or pilot.app.screen.searching:
            await pilot.pause(0.02)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_seed_session_open(
    snap_compare: Any,
    liu_home: Path,
    make_app: MakeApp,
    seed_session: Session,
    size: tuple[int, int],
) -> None:
    """You should see the seed session (Chinese text, a table, headings) at its end; at 120
    columns the session list on the left with its one row, at 80 it is folded away. The
    footer line shows the last reply's figures and the session's cost."""
    write_config(liu_home, lab_config(free_port()))
    app = make_app()
    assert snap_compare(app, terminal_size=size, run_before=_settle)


@pytest.mark.parametrize("size", SIZES)
def test_reply_mid_stream(
    snap_compare: Any, liu_home: Path, make_app: MakeApp, size: tuple[int, int]
) -> None:
    """You should see a reply being written (header "writing…") with a list and a code
    block, the figures marked ~ with a tokens/s rate, and Esc Stop among the keys."""
    write_config(liu_home, lab_config(free_port()))
    session = _asked_session()
    _store(session)
    app = make_app()

    async def run_before(pilot: Pilot[Any]) -> None:
        chat = _chat(pilot)
        view = await chat.log_widget.begin_reply("lab:fake-model")
        chat.live = LiveReply(session.session_id, "lab:fake-model", 0.0, 19, view=view)
        view.append_text(STREAMED)
        chat.footer_figures.show(
            Figures(
                model_id="lab:fake-model",
                prompt_tokens=19,
                completion_tokens=96,
                estimated=True,
                tokens_per_second=42.5,
                has_reply=True,
                streaming=True,
            )
        )
        chat.refresh_bindings()
        await pilot.pause(0.3)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_model_picker(
    snap_compare: Any, liu_home: Path, make_app: MakeApp, size: tuple[int, int]
) -> None:
    """You should see the model picker over the chat: each model with its price per million
    tokens in/out (or "unpriced"), "set NAME" where its key is missing, the current model
    ticked, and "local" for the lab server."""
    write_config(liu_home, lab_config(free_port()))
    _store(_asked_session())
    app = make_app()

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press("ctrl+o")
        while not isinstance(pilot.app.screen, ModelPicker):
            await pilot.pause(0.02)
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_error_in_the_log(
    snap_compare: Any, liu_home: Path, make_app: MakeApp, size: tuple[int, int]
) -> None:
    """You should see the prompt, then where the reply would be a line saying there is no
    API key for openai, which variable to set, and that Ctrl+O picks another model."""
    write_config(liu_home, 'default_model = "openai:gpt-4.1"\ntheme = "liu-ink"\n')
    app = make_app(new=True)

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press(*"hello?", "enter")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_finished_reply_figures(liu_home: Path) -> None:
    """Not a snapshot: the figures a finished reply leaves in the footer (plain text)."""
    from tui.app.widgets.cost_footer import CostFooter

    footer = CostFooter()
    footer.figures = Figures(
        model_id="lab:fake-model",
        prompt_tokens=11,
        completion_tokens=200,
        has_reply=True,
        reply_cost=0.00041,
        reply_priced=True,
        session_cost=0.00082,
        session_unpriced=1,
        tokens_per_second=44.6,
    )
    assert footer.text() == (
        "lab:fake-model · 11 in 200 out · 44.6 tok/s · reply $0.00041 · "
        "session $0.00082 · +1 unpriced"
    )
    footer.figures = Figures(model_id="x:y", has_reply=True, session_unpriced=2)
    assert "reply unpriced" in footer.text() and "session unpriced" in footer.text()
