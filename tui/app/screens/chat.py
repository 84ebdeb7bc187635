"""The chat screen: session list, message log, prompt, figures; and the reply worker.

The worker is the one place the UI meets the engine. It iterates `core.turn.run_turn` and
hands each piece of text straight to the `ReplyView` on screen (which buffers and repaints
on a timer); figures go to the footer as a few messages a second. The worker holds the id of
the session it writes into, so switching sessions while a reply streams never moves the
reply: it goes on into its own file, and shows again when that session is opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Label, OptionList, TextArea
from textual.widgets.option_list import Option

from tui import gc_tuning
from tui.app.messages import Reply
from tui.app.paint_now import paint_now
from tui.app.warmup import warm_lexers
from tui.app.widgets.cost_footer import CostFooter, Figures
from tui.app.widgets.input_bar import NEW_SESSION_KEY, InputBar
from tui.app.widgets.message_log import MessageLog
from tui.app.widgets.session_list import SessionList
from tui.core.errors import LiuError, ProviderError, SessionBusy
from tui.core.session import Message, Role, Session, Status
from tui.core.turn import TokenEstimate, estimate_tokens, normalise_text

if TYPE_CHECKING:
    from tui.app.app import LiuApp
    from tui.app.widgets.message_view import ReplyView
    from tui.core.turn import TurnSpec

LIST_FOLD_WIDTH = 100  # below this many columns the session list starts folded away
TICK = 0.5  # seconds between footer updates while a reply streams (with the text's frames)
DRAFT_SAVE_DELAY = 1.0
CRASH = Status("interrupted", "crash")


@dataclass
class LiveReply:
    """The reply being streamed, wherever the user is looking."""

    session_id: str
    model_id: str
    started: float
    prompt_estimate: int
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    text_estimate: TokenEstimate = field(default_factory=TokenEstimate)
    reasoning_estimate: TokenEstimate = field(default_factory=TokenEstimate)
    first_token_at: float | None = None
    last_tick: float = 0.0
    provider_usage: bool = False
    view: ReplyView | None = None


def error_line(error: BaseException, kept: bool) -> str:
    """One line: what went wrong (the engine's words) and what to do now."""
    line = str(error) if isinstance(error, LiuError) else f"unexpected error: {error!r}"
    hints: list[str] = []
    if isinstance(error, ProviderError):
        if error.reason == "no key" or "pick another" in line:
            hints.append("Ctrl+O")
        elif error.retryable or error.reason in ("network", "timeout") or error.status == 429:
            hints.append("Ctrl+G tries again")
    if kept:
        hints.append("the partial reply is kept")
    return line + (f" ({'; '.join(hints)})" if hints else "")


def _drop_last_exchange(s: Session) -> None:
    while s.messages and s.messages[-1].role is Role.ASSISTANT:
        s.messages.pop()
    if s.messages and s.messages[-1].role is Role.USER:
        s.messages.pop()


class TextPrompt(ModalScreen[str | None]):
    """One line of text: renaming a session."""

    DEFAULT_CSS = """
    TextPrompt { align: center middle; }
    TextPrompt > Vertical { width: 70; max-width: 90%; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt_cancel")]

    def __init__(self, title: str, value: str) -> None:
        super().__init__()
        self.title_text = title
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield Input(self.value, id="prompt-input")

    @on(Input.Submitted)
    def _done(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ChoicePrompt(ModalScreen[str | None]):
    """Pick one of a few (id, label): the assistant for a new session."""

    DEFAULT_CSS = """
    ChoicePrompt { align: center middle; }
    ChoicePrompt > Vertical { width: 70; max-width: 90%; height: auto; max-height: 80%; }
    ChoicePrompt OptionList { height: auto; max-height: 20; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="choice_cancel")]

    def __init__(self, title: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield OptionList(*(Option(label, id=key) for key, label in self.choices))

    @on(OptionList.OptionSelected)
    def _done(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ChatScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "stop", "Stop", id="stop"),
        Binding("ctrl+n", "new_session", "New", id="new_session"),
        Binding("ctrl+o", "switch_model", "Model", id="switch_model"),
        Binding("ctrl+f", "search", "Search", id="search"),
        Binding("ctrl+s", "toggle_sessions", "Sessions", id="toggle_sessions"),
        # TextArea takes Ctrl+Y for redo: copying wins.
        Binding("ctrl+y", "copy", "Copy", id="copy", priority=True),
        Binding("ctrl+r", "regenerate", "Regenerate", id="regenerate"),
        Binding("ctrl+g", "continue_reply", "Continue", id="continue"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.session = Session()
        self.saved = False
        self.model_id = ""
        self.live: LiveReply | None = None
        self._list_pinned: bool | None = None  # the user's Ctrl+S choice; None: by width
        self._draft_timer: Timer | None = None
        self._last_figures = Figures()

    # ------------------------------------------------------------ parts

    @property
    def liu(self) -> LiuApp:
        return cast("LiuApp", self.app)

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield SessionList(self.liu.library.index, self.liu.clock, id="sessions")
            with Vertical(id="chat"):
                yield MessageLog(id="log")
                yield InputBar(id="prompt")
        yield CostFooter(id="figures")
        yield Footer(compact=True)

    @property
    def log_widget(self) -> MessageLog:
        return self.query_one(MessageLog)

    @property
    def input_bar(self) -> InputBar:
        return self.query_one(InputBar)

    @property
    def session_list(self) -> SessionList:
        return self.query_one(SessionList)

    @property
    def footer_figures(self) -> CostFooter:
        return self.query_one(CostFooter)

    @property
    def reply_running(self) -> bool:
        return self.live is not None

    @property
    def draft_key(self) -> str:
        return self.session.session_id if self.saved else NEW_SESSION_KEY

    async def on_mount(self) -> None:
        self._fold_list(self.app.size.width)
        self.log_widget.on_reply_text = self._reply_text_shown
        app = self.liu
        target: str | None = None
        if app.start_session:
            try:
                target = app.library.resolve(app.start_session).session_id
            except LiuError as e:
                self.notify(str(e), severity="error")
        elif not app.start_new:
            recent = app.library.index.recent(limit=1)
            target = recent[0].session_id if recent else None
        if target is not None:
            await self.open_session(target, save_draft=False)
        else:
            await self.new_session(save_draft=False)
        self.input_bar.focus()
        self._report_broken_files()

    def _report_broken_files(self) -> None:
        """Files the index could not read: listed nowhere, so say how many and the first."""
        try:
            broken = self.liu.library.index.broken()
        except Exception:  # the index is a cache: never a reason not to start
            return
        if broken:
            from tui.app.widgets.stream_blocks import sanitize

            self.notify(
                sanitize(f"{len(broken)} session file(s) could not be read; first: {broken[0][1]}"),
                title="Sessions",
                severity="warning",
                timeout=12,
                markup=False,
            )

    # ------------------------------------------------------------ sessions

    def _model_for(self, session: Session) -> str:
        app = self.liu
        return app.model_override or session.model_id or app.default_model() or ""

    def _stash_draft(self) -> None:
        drafts = self.liu.drafts
        if drafts.set(self.draft_key, self.input_bar.draft):
            drafts.save()

    async def open_session(self, session_id: str, *, save_draft: bool = True) -> bool:
        lib = self.liu.library
        path = lib.index.path_of(session_id)
        if path is None:
            self.notify(f"session {session_id[:8]} is gone from the store", severity="error")
            return False
        try:
            session = lib.store.load(path)
        except LiuError as e:
            self.notify(str(e), severity="error")
            return False
        if save_draft:
            self._stash_draft()
        self.session = session
        self.saved = True
        self.model_id = self._model_for(session)
        await self._show_current()
        self.input_bar.set_prompts([m.text for m in session.messages if m.role is Role.USER])
        self.input_bar.set_draft(self.liu.drafts.get(session_id))
        self.session_list.set_current(session_id)
        return True

    async def new_session(
        self, assistant_id: str | None = None, *, save_draft: bool = True
    ) -> None:
        if save_draft:
            self._stash_draft()
        settings = self.liu.settings
        self.session = Session(model_id="", assistant_id=assistant_id or settings.default_assistant)
        self.saved = False
        self.model_id = self._model_for(self.session)
        await self._show_current()
        self.input_bar.set_prompts([])
        self.input_bar.set_draft(self.liu.drafts.get(NEW_SESSION_KEY))
        self.session_list.set_current(None)

    async def _show_current(self) -> None:
        """Put the current session in the log; a reply streaming into it is picked up."""
        live = self.live
        if live is not None:
            live.view = None  # whatever view it had is about to go
        messages = list(self.session.messages)
        here = live is not None and self.saved and live.session_id == self.session.session_id
        last = messages[-1] if messages else None
        if here and last is not None and last.role is Role.ASSISTANT and last.status == CRASH:
            messages.pop()  # the checkpoint of the reply now streaming: shown live instead
        await self.log_widget.show_session(messages, session_model=self.session.model_id)
        if here and live is not None:
            view = await self.log_widget.begin_reply(live.model_id)
            if live.reasoning:
                view.append_reasoning("".join(live.reasoning))
            if live.text:
                view.append_text("".join(live.text))
            live.view = view
        self._show_figures()
        self._refresh_bindings_soon()

    def _show_figures(self) -> None:
        """Figures of the session on screen: its last reply and its total."""
        session = self.session
        totals = session.totals()
        last = next((m for m in reversed(session.messages) if m.role is Role.ASSISTANT), None)
        figures = Figures(
            model_id=self.model_id,
            session_cost=totals.cost,
            session_unpriced=totals.unpriced_replies,
        )
        if last is not None and last.usage is not None:
            figures = Figures(
                model_id=self.model_id,
                prompt_tokens=last.usage.prompt_tokens,
                completion_tokens=last.usage.completion_tokens,
                estimated=bool(last.usage.extra.get("estimated")),
                has_reply=True,
                reply_cost=last.cost.total_cost if last.cost else None,
                reply_priced=last.cost is not None and last.cost.total_cost is not None,
                session_cost=totals.cost,
                session_unpriced=totals.unpriced_replies,
            )
        live = self.live
        if live is not None and self.saved and live.session_id == session.session_id:
            figures = self._live_figures(live, figures)
        self.footer_figures.show(figures)

    def _live_figures(self, live: LiveReply, base: Figures) -> Figures:
        completion = live.text_estimate.tokens
        return Figures(
            model_id=live.model_id,
            prompt_tokens=live.prompt_estimate,
            completion_tokens=completion,
            estimated=True,
            tokens_per_second=self._rate(live, completion),
            has_reply=True,
            streaming=True,
            session_cost=base.session_cost,
            session_unpriced=base.session_unpriced,
        )

    def _rate(self, live: LiveReply, completion: int) -> float | None:
        if live.first_token_at is None:
            return None
        elapsed = self.liu.monotonic() - live.first_token_at
        return completion / elapsed if elapsed > 0.05 else None

    def on_session_list_selected(self, event: SessionList.Selected) -> None:
        event.stop()
        self._switch_to(event.session_id)

    @work(exclusive=True, group="open")
    async def _switch_to(self, session_id: str) -> None:
        if not (self.saved and session_id == self.session.session_id):
            await self.open_session(session_id)
        self.input_bar.focus()

    def on_session_list_left(self, event: SessionList.Left) -> None:
        event.stop()
        self.input_bar.focus()

    def on_session_list_rename_requested(self, event: SessionList.RenameRequested) -> None:
        event.stop()
        row = event.row

        def renamed(title: str | None) -> None:
            if title is None or not title.strip():
                return
            new_title = " ".join(title.split())

            def change(s: Session) -> None:
                s.title = new_title

            try:
                updated = self.liu.library.store.update(row.session_id, change)
            except LiuError as e:
                self.notify(str(e), severity="error")
                return
            if self.saved and self.session.session_id == row.session_id:
                self.session = updated
            self.session_list.reload()

        self.app.push_screen(TextPrompt("Rename session", row.title), renamed)

    async def on_session_list_delete_requested(self, event: SessionList.DeleteRequested) -> None:
        event.stop()
        await self.delete_session(event.row.session_id, event.row.title)

    async def delete_session(self, session_id: str, title: str) -> None:
        if self.live is not None and self.live.session_id == session_id:
            self.notify("A reply is streaming into this session: Esc stops it first")
            return
        try:
            self.liu.library.store.trash(session_id)
        except LiuError as e:
            self.notify(str(e), severity="error")
            return
        self.liu.last_trashed = session_id
        self.session_list.reload()
        if self.saved and self.session.session_id == session_id:
            await self.new_session(save_draft=False)
        self.notify(
            f"Moved “{title or session_id[:8]}” to the trash. "
            "[@click=app.undo_delete]Undo[/] (or “Undo delete” in Ctrl+P)",
            title="Deleted",
            timeout=10,
        )

    def on_session_list_export_requested(self, event: SessionList.ExportRequested) -> None:
        event.stop()
        self.liu.export_session(event.row.session_id, "md")

    # ------------------------------------------------------------ sending

    @on(InputBar.Submitted)
    async def _submitted(self, event: InputBar.Submitted) -> None:
        event.stop()
        await self.send(event.text, replace_last=event.recalled_last)

    async def send(self, text: str, *, replace_last: bool = False) -> None:
        if self.live is not None:
            where = "" if self.live.session_id == self.session.session_id else " in another session"
            self.notify(f"A reply is streaming{where}: wait, or Esc stops it", severity="warning")
            return
        if not self.model_id:
            self.notify("No model: Ctrl+O picks one", severity="error")
            return
        lib = self.liu.library
        try:
            if not self.saved:
                self.session.model_id = self.model_id
                first = Session(messages=[Message(Role.USER, self._now(), text)])
                self.session.title = first.default_title()  # names the file too
                lib.store.create(self.session)
                self.liu.drafts.set(NEW_SESSION_KEY, "")
                self.saved = True
            elif replace_last and any(m.role is Role.USER for m in self.session.messages):
                self.session = lib.store.update(self.session.session_id, _drop_last_exchange)
                await self.log_widget.show_session(
                    list(self.session.messages), session_model=self.session.model_id
                )
                self.notify("The last prompt was edited: its old exchange is replaced")
        except LiuError as e:
            self.notify(str(e), severity="error")
            return
        bar = self.input_bar
        bar.remember(text)
        bar.set_draft("")
        if self.liu.drafts.set(self.session.session_id, ""):
            self.liu.drafts.save()
        await self.log_widget.add_message(Message(Role.USER, self._now(), normalise_text(text)))
        self.session_list.set_current(self.session.session_id)
        await self.start_reply(self._spec(prompt=text))
        self.session_list.reload()

    def _now(self) -> Any:
        return self.liu.clock()

    def _spec(self, *, prompt: str | None = None, regenerate: bool = False) -> TurnSpec:
        from tui.core.turn import TurnSpec

        settings = self.liu.settings
        assistant = settings.assistant(self.session.assistant_id)
        return TurnSpec(
            session_id=self.session.session_id,
            model_id=self.model_id,
            prompt=prompt,
            regenerate=regenerate,
            system_prompt=assistant.system_prompt if assistant else None,
            checkpoint_interval=settings.checkpoint_interval,
            read_timeout=settings.read_timeout,
            index_later=True,  # see on_reply_finished
        )

    async def start_reply(self, spec: TurnSpec) -> None:
        history = sum(estimate_tokens(m.text) for m in self.session.messages)
        prompt = estimate_tokens(spec.prompt or "")
        system = estimate_tokens(spec.system_prompt or "")
        live = LiveReply(
            spec.session_id,
            spec.model_id,
            started=self.liu.monotonic(),
            prompt_estimate=history + prompt + system,
        )
        live.view = await self.log_widget.begin_reply(spec.model_id)
        self.live = live
        # A blinking cursor is a frame of its own twice a second; the reply moves anyway.
        self.input_bar.cursor_blink = False
        self._show_figures()
        self._refresh_bindings_soon()
        warm_lexers()
        self.session_list.sync_paused = True  # until the worker's end (run_reply's finally)
        self.run_reply(spec, live)

    @work(exclusive=True, group="reply", exit_on_error=False)
    async def run_reply(self, spec: TurnSpec, live: LiveReply) -> None:
        from tui.core.turn import (
            ReplyFailed,
            ReplyFinished,
            ReplyReasoning,
            ReplyText,
            ReplyUsage,
            run_turn,
        )

        app = self.liu
        sid = spec.session_id

        def on_retry(error: ProviderError, wait: float, attempt: int) -> None:
            self.post_message(Reply.Retrying(sid, error, wait, attempt))

        spec.on_retry = on_retry
        self.post_message(Reply.Started(sid, spec.model_id))
        try:
            events = run_turn(
                app.library.store,
                app.settings,
                spec,
                client=app.http_client(),
                policy=app.retry_policy(on_retry),
            )
            async for event in events:
                if isinstance(event, ReplyText):
                    if live.first_token_at is None:
                        live.first_token_at = app.monotonic()
                    live.text.append(event.text)
                    live.text_estimate.add(event.text)
                    if live.view is not None:
                        live.view.append_text(event.text)  # the footer follows its frames
                elif isinstance(event, ReplyReasoning):
                    if live.first_token_at is None:
                        live.first_token_at = app.monotonic()
                    live.reasoning.append(event.text)
                    live.reasoning_estimate.add(event.text)
                    if live.view is not None:
                        live.view.append_reasoning(event.text)
                    self._tick(live)
                elif isinstance(event, ReplyUsage):
                    live.provider_usage = True
                    self.post_message(Reply.UsageUpdated(sid, event.usage))
                elif isinstance(event, ReplyFinished):
                    gc_tuning.hold()  # until the frame that shows the reply (or a second)
                    self.set_timer(1.0, gc_tuning.release)
                    if live.view is not None:
                        await live.view.finish(event.message)
                    self.post_message(Reply.Finished(sid, event.message, event.session))
                elif isinstance(event, ReplyFailed):
                    line = error_line(event.error, event.message is not None)
                    if live.view is not None:
                        await live.view.fail(line, event.message)
                    self.post_message(Reply.Failed(sid, line, event.message))
        except asyncio.CancelledError:
            partial = self._saved_reply(sid) if live.text or live.reasoning else None
            line = "Stopped. " + (
                "The partial reply is kept; Ctrl+G continues it, Ctrl+R writes a new one."
                if partial is not None
                else "Nothing had arrived yet."
            )
            if live.view is not None:
                with contextlib.suppress(Exception):
                    await live.view.fail(line, partial)
            self.post_message(Reply.Failed(sid, line, partial, cancelled=True))
            raise
        except SessionBusy as e:
            # Another liu streams into this session: nothing was written, so the prompt goes
            # back where the user can send it again.
            line = f"{e}. Nothing was sent" + (
                "; your prompt is back in the input." if spec.prompt else "."
            )
            if spec.prompt:
                self._give_back_prompt(sid, spec.prompt)
            if live.view is not None:
                with contextlib.suppress(Exception):
                    await live.view.fail(line, None)
            self.notify(line, title="Session busy", severity="warning", timeout=10, markup=False)
            self.post_message(Reply.Failed(sid, line, None))
        except Exception as e:  # anything else is a bug, shown too
            line = error_line(e, False)
            if live.view is not None:
                with contextlib.suppress(Exception):
                    await live.view.fail(line, None)
            self.post_message(Reply.Failed(sid, line, None))
        finally:
            if self.live is live:
                self.live = None
                with contextlib.suppress(Exception):
                    self.input_bar.cursor_blink = True
                with contextlib.suppress(Exception):
                    self.session_list.sync_paused = False
            live.view = None
            with contextlib.suppress(Exception):
                self._refresh_bindings_soon()

    def _give_back_prompt(self, session_id: str, prompt: str) -> None:
        """A prompt that was never saved: into the input (before what was typed since)."""
        on_screen = self._on_screen(session_id)
        drafts = self.liu.drafts
        typed = self.input_bar.draft if on_screen else drafts.get(session_id)
        text = prompt if not typed.strip() or typed == prompt else f"{prompt}\n\n{typed}"
        if on_screen:
            self.input_bar.set_draft(text)
        if drafts.set(session_id, text):
            with contextlib.suppress(Exception):
                drafts.save()

    def _saved_reply(self, session_id: str) -> Message | None:
        """The reply as the engine saved it (after a stop): the last assistant message."""
        lib = self.liu.library
        path = lib.index.path_of(session_id)
        if path is None:
            return None
        try:
            session = lib.store.load(path)
        except LiuError:
            return None
        last = session.messages[-1] if session.messages else None
        return last if last is not None and last.role is Role.ASSISTANT else None

    def _tick(self, live: LiveReply) -> None:
        """The footer's estimate of the streaming reply's tokens and rate, at most every
        TICK: called when the reply's new text is put on screen (`MessageLog.on_reply_text`),
        so that one frame paints both, or as reasoning arrives (before any text)."""
        now = self.liu.monotonic()
        if now - live.last_tick < TICK or not self._on_screen(live.session_id):
            return
        live.last_tick = now
        completion = live.text_estimate.tokens
        rate = self._rate(live, completion)
        figures = self.footer_figures.figures
        if figures.estimated or not figures.completion_tokens:
            self.footer_figures.update_figures(
                completion_tokens=completion,
                tokens_per_second=rate,
                estimated=True,
                streaming=True,
                has_reply=True,
            )
        else:
            self.footer_figures.update_figures(tokens_per_second=rate)

    def _reply_text_shown(self) -> None:
        if self.live is not None and self.live.view is not None:
            self._tick(self.live)

    # ------------------------------------------------------------ what the worker posts

    def _on_screen(self, session_id: str) -> bool:
        return self.saved and self.session.session_id == session_id

    def on_reply_started(self, event: Reply.Started) -> None:
        pass  # start_reply refreshed the keys already

    def on_reply_usage_updated(self, event: Reply.UsageUpdated) -> None:
        if not self._on_screen(event.session_id):
            return
        usage = event.usage
        self.footer_figures.update_figures(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            estimated=False,
        )

    def on_reply_retrying(self, event: Reply.Retrying) -> None:
        note = f"retry {event.attempt} in {event.wait:.1f} s"
        if self._on_screen(event.session_id):
            self.footer_figures.update_figures(note=note)
        self.notify(f"{event.error}: {note}", severity="warning", timeout=max(3.0, event.wait))

    def on_reply_finished(self, event: Reply.Finished) -> None:
        # After the frame that shows the finished reply: re-indexing the session (its text
        # for search: 13 ms for 100k tokens), and the list's new row (its cost, its time),
        # which repaints the whole list, a fifth of that frame's cost.
        self.call_after_refresh(self._index_finished_reply)
        if not self._on_screen(event.session_id):
            title = event.session.title or event.session_id[:8]
            self.notify(f"The reply in “{title}” is done")
            gc_tuning.release()
            return
        rate = self.footer_figures.figures.tokens_per_second
        self.session = event.session
        self._show_figures()
        if rate is not None:
            self.footer_figures.update_figures(tokens_per_second=rate)
        self._refresh_bindings_soon()
        paint_now(self)  # the finished reply and its figures, without waiting for a tick
        gc_tuning.release()

    def _index_finished_reply(self) -> None:
        self.liu.library.store.announce()
        self.session_list.reload()

    def on_reply_failed(self, event: Reply.Failed) -> None:
        self.session_list.reload()
        if self._on_screen(event.session_id):
            self._reload_session()
            self._show_figures()
        elif not event.cancelled:
            self.notify(event.error_line, severity="error")
        self._refresh_bindings_soon()

    def _reload_session(self) -> None:
        lib = self.liu.library
        path = lib.index.path_of(self.session.session_id)
        if path is not None:
            with contextlib.suppress(LiuError):
                self.session = lib.store.load(path)

    # ------------------------------------------------------------ actions

    _bindings_timer: Timer | None = None

    def _refresh_bindings_soon(self) -> None:
        """One refresh of the footer's keys for the changes of the next 50 ms: each refresh
        makes Textual's Footer rebuild itself and lay out and paint the whole screen, and a
        reply's start and end each change several things in a row."""
        if self._bindings_timer is None:
            self._bindings_timer = self.set_timer(0.05, self._refresh_bindings_now)

    def _refresh_bindings_now(self) -> None:
        self._bindings_timer = None
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.live is not None
        if action == "regenerate":
            if self.live is not None:
                return False
            return self.saved and any(m.role is Role.ASSISTANT for m in self.session.messages[-1:])
        if action == "continue_reply":
            if self.live is not None or not self.saved or not self.session.messages:
                return False
            last = self.session.messages[-1]
            return last.role is Role.USER or last.status is not None
        return True

    def action_stop(self) -> None:
        if self.live is not None:
            self.workers.cancel_group(self, "reply")

    async def action_regenerate(self) -> None:
        if self.live is not None or not self.saved:
            return
        if not self.session.messages or self.session.messages[-1].role is not Role.ASSISTANT:
            return
        result = self.log_widget.remove_last_reply()
        if inspect.isawaitable(result):
            await result
        await self.start_reply(self._spec(regenerate=True))

    async def action_continue_reply(self) -> None:
        if self.live is not None or not self.saved or not self.session.messages:
            return
        await self.start_reply(self._spec())

    async def action_new_session(self) -> None:
        assistants = self.liu.settings.assistants
        if len(assistants) <= 1:
            await self.new_session()
            self.input_bar.focus()
            return

        async def chosen(assistant_id: str | None) -> None:
            if assistant_id is not None:
                await self.new_session(assistant_id)
                self.input_bar.focus()

        choices = [(a.id, a.name) for a in assistants]
        self.app.push_screen(ChoicePrompt("Assistant for the new session", choices), chosen)

    def action_switch_model(self) -> None:
        from tui.app.widgets.model_picker import ModelPicker

        def chosen(model_id: str | None) -> None:
            if model_id:
                self.set_model(model_id)

        picker = ModelPicker(self.liu.settings, self.model_id, client=self.liu.http_client())
        self.app.push_screen(picker, chosen)

    def set_model(self, model_id: str) -> None:
        """The model for the next reply; stored as the session's model."""
        self.model_id = model_id
        if self.saved:

            def change(s: Session) -> None:
                s.model_id = model_id

            try:
                self.session = self.liu.library.store.update(self.session.session_id, change)
            except LiuError as e:
                self.notify(str(e), severity="error")
        self.session.model_id = model_id
        self.footer_figures.update_figures(model_id=model_id)
        self.notify(f"Next reply: {model_id}", timeout=3)

    def action_search(self) -> None:
        self.show_list(True)
        self.session_list.focus_filter()

    def action_toggle_sessions(self) -> None:
        self.show_list(not self.session_list.display)
        if not self.session_list.display:
            self.input_bar.focus()

    def show_list(self, visible: bool) -> None:
        self._list_pinned = visible
        self.session_list.display = visible

    def _fold_list(self, width: int) -> None:
        if self._list_pinned is None:
            self.session_list.display = width >= LIST_FOLD_WIDTH

    def on_resize(self, event: Resize) -> None:
        self._fold_list(event.size.width)

    def action_copy(self) -> None:
        message = self.log_widget.focused_message()
        if message is None:
            message = next(
                (m for m in reversed(self.session.messages) if m.role is Role.ASSISTANT), None
            )
        if message is None or not message.text:
            self.notify("Nothing to copy yet")
            return
        self.app.copy_to_clipboard(message.text)
        self.notify(f"Copied {len(message.text)} characters", timeout=2)

    # ------------------------------------------------------------ drafts

    @on(TextArea.Changed, "#prompt")
    def _draft_changed(self) -> None:
        # A prompt is being written: what its reply will need is made ready meanwhile.
        self.liu.prepare_http_client()
        warm_lexers()
        if self._draft_timer is not None:
            self._draft_timer.stop()
        self._draft_timer = self.set_timer(DRAFT_SAVE_DELAY, self._stash_draft)

    def save_state(self) -> None:
        """On the way out: the draft on screen is written."""
        with contextlib.suppress(Exception):
            self._stash_draft()

    # ------------------------------------------------------------ for the app

    def current_session_path(self) -> Path | None:
        if not self.saved:
            return None
        return self.liu.library.index.path_of(self.session.session_id)

    def cancel_reply(self) -> None:
        self.workers.cancel_group(self, "reply")


CommandCallback = Callable[[], Any]
