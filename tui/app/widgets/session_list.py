"""The sessions, newest first, from the index; a filter that searches titles and text.

Rows come from the SQLite index (never by reading session files) a page at a time, so
10,000 sessions open as fast as ten. Typing in the filter searches the full-text index,
debounced. The list only asks: opening, renaming, deleting and exporting are the chat
screen's work, told by the messages below.

Another liu (or an editor, or `git pull`) may change the files meanwhile: every
`REFRESH_EVERY` seconds a thread syncs the index with the files (a stat per file, on its own
SQLite connection, so the UI never waits on it), and the rows are shown again only when the
index changed and the rows with it; the highlight and the filter stay as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from tui.core.display import format_cost, relative_time
from tui.core.errors import LiuError
from tui.core.index import SearchHit, SessionIndex, SessionRow

PAGE = 100
DEBOUNCE = 0.15
REFRESH_EVERY = 2.0  # seconds between looks at the files for changes made by others
TITLE_LIMIT = 80


def _short_model(model_id: str) -> str:
    return model_id.partition(":")[2] or model_id


def row_cost(row: SessionRow) -> str:
    if row.unpriced and not row.total_cost:
        return "unpriced" if row.message_count else ""
    return format_cost(row.total_cost)


def row_content(row: SessionRow, now: datetime, current: bool, snippet: str = "") -> Content:
    title = row.title or "(untitled)"
    if len(title) > TITLE_LIMIT:
        title = title[: TITLE_LIMIT - 1] + "…"
    head = Content.styled(title, "bold" if current else "")
    bits = [relative_time(row.updated_at, now)]
    if row.model_id:
        bits.append(_short_model(row.model_id))
    cost = row_cost(row)
    if cost:
        bits.append(cost)
    meta = Content.styled(" · ".join(bits), "$text-muted")
    lines = [head, meta]
    if snippet:
        lines.append(Content.styled(snippet, "italic $text-muted"))
    return Content("\n").join(lines)


class SessionOptions(OptionList):
    """The rows; asks its list for the next page when scrolled near the end."""

    BINDINGS = [
        Binding("f2", "rename", "Rename", id="session_rename"),
        Binding("delete", "delete", "Delete", id="session_delete"),
        Binding("ctrl+e", "export", "Export", id="session_export"),
    ]

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if new >= self.max_scroll_y - self.scrollable_content_region.height:
            parent = self.parent
            if isinstance(parent, SessionList):
                parent.load_more()

    def watch_highlighted(self, highlighted: int | None) -> None:
        super().watch_highlighted(highlighted)
        if highlighted is not None and highlighted >= self.option_count - 10:
            parent = self.parent
            if isinstance(parent, SessionList):
                parent.load_more()

    def _row(self) -> SessionRow | None:
        parent = self.parent
        return parent.highlighted_row() if isinstance(parent, SessionList) else None

    def action_rename(self) -> None:
        if row := self._row():
            self.post_message(SessionList.RenameRequested(row))

    def action_delete(self) -> None:
        if row := self._row():
            self.post_message(SessionList.DeleteRequested(row))

    def action_export(self) -> None:
        if row := self._row():
            self.post_message(SessionList.ExportRequested(row))


class SessionList(Vertical):
    DEFAULT_CSS = """
    SessionList {
        width: 36;
        height: 1fr;
    }
    SessionList > Input {
        height: 3;
    }
    SessionList > SessionOptions {
        height: 1fr;
    }
    """

    BINDINGS = [
        Binding("escape", "leave_filter", "Back", id="session_filter_leave", show=False),
        Binding("down", "to_rows", "Rows", id="session_filter_down", show=False),
    ]

    @dataclass
    class Selected(Message):
        session_id: str

    @dataclass
    class RenameRequested(Message):
        row: SessionRow

    @dataclass
    class DeleteRequested(Message):
        row: SessionRow

    @dataclass
    class ExportRequested(Message):
        row: SessionRow

    @dataclass
    class Left(Message):
        """Esc in an empty filter: the user wants to get back to the prompt."""

    class Synced(Message):
        """The thread brought the index up to date with the files."""

    def __init__(
        self, index: SessionIndex, clock: Callable[[], datetime], *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.index = index
        self.clock = clock
        self.current_id: str | None = None
        self.query_text = ""
        self._rows: list[SessionRow] = []
        self._snippets: dict[str, str] = {}
        self._exhausted = False
        self._debounce: Timer | None = None
        self._syncing = False
        self._seen_version: int | None = None
        self.sync_paused = False
        """Set while a reply streams: its checkpoints change its file every second or two,
        and each look re-read and re-indexed it (a stat per session besides), for a row the
        reply's final save updates anyway. Others' changes show once the reply ends."""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="search (ctrl+f)", id="session-filter")
        yield SessionOptions(id="session-rows")

    @property
    def filter_input(self) -> Input:
        return self.query_one("#session-filter", Input)

    @property
    def options(self) -> SessionOptions:
        return self.query_one(SessionOptions)

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(REFRESH_EVERY, self.refresh_from_files)

    # ------------------------------------------------------------ rows

    @property
    def rows(self) -> list[SessionRow]:
        return list(self._rows)

    def _option(self, row: SessionRow, now: datetime) -> Option:
        content = row_content(
            row, now, row.session_id == self.current_id, self._snippets.get(row.session_id, "")
        )
        return Option(content, id=row.session_id)

    def _fetch(self) -> tuple[list[SessionRow], dict[str, str], bool]:
        """(rows, snippets, all there) for the filter as it stands."""
        if self.query_text.strip():
            try:
                hits: list[SearchHit] = self.index.search(self.query_text, limit=200)
            except LiuError:
                hits = []
            return [h.row for h in hits], {h.row.session_id: h.plain_snippet() for h in hits}, True
        count = max(PAGE, len(self._rows)) if self._rows else PAGE
        rows = self.index.recent(limit=count)
        return rows, {}, len(rows) < count

    def reload(self) -> None:
        """Rows again from the index (after a write), keeping the highlight where it was."""
        self._show(*self._fetch())

    def _show(self, rows: list[SessionRow], snippets: dict[str, str], exhausted: bool) -> None:
        options = self.options
        keep = options.highlighted_option.id if options.highlighted_option else self.current_id
        self._rows, self._snippets, self._exhausted = rows, snippets, exhausted
        now = self.clock()
        options.set_options([self._option(r, now) for r in self._rows])
        self._highlight(keep)

    # ------------------------------------------------------------ changes made by others

    def _index_version(self) -> int | None:
        """SQLite's data_version of our connection: it moves when another connection commits."""
        try:
            return int(self.index.db.execute("PRAGMA data_version").fetchone()[0])
        except Exception:  # a closed or broken index: the next look tries again
            return None

    def refresh_from_files(self) -> None:
        """Look for sessions another process made or changed (the timer calls this)."""
        if self._syncing or self.sync_paused:
            return
        self._syncing = True
        self._sync_in_thread(self.index.db_path, self.index.sessions_dir)

    @work(thread=True, exclusive=True, group="session-sync", exit_on_error=False)
    def _sync_in_thread(self, db_path: Path, sessions_dir: Path) -> None:
        try:
            index = SessionIndex(db_path, sessions_dir)  # sqlite connections are per thread
            try:
                index.sync()
            finally:
                index.close()
        except Exception:  # a busy or vanished index: the next tick tries again
            pass
        finally:
            self.post_message(self.Synced())

    def on_session_list_synced(self, event: SessionList.Synced) -> None:
        event.stop()
        self._syncing = False
        version = self._index_version()
        if version is None or version == self._seen_version:
            return
        self._seen_version = version
        try:
            fetched = self._fetch()
        except Exception:
            return
        if fetched[0] != self._rows:
            self._show(*fetched)

    def load_more(self) -> None:
        if self._exhausted or self.query_text.strip():
            return
        more = self.index.recent(limit=PAGE, offset=len(self._rows))
        self._exhausted = len(more) < PAGE
        if more:
            now = self.clock()
            self._rows.extend(more)
            self.options.add_options([self._option(r, now) for r in more])

    def _highlight(self, session_id: str | None) -> None:
        options = self.options
        if session_id is not None:
            for i, row in enumerate(self._rows):
                if row.session_id == session_id:
                    options.highlighted = i
                    return
        options.highlighted = 0 if self._rows else None

    def highlighted_row(self) -> SessionRow | None:
        index = self.options.highlighted
        if index is None or not 0 <= index < len(self._rows):
            return None
        return self._rows[index]

    def set_current(self, session_id: str | None) -> None:
        """Mark the session on screen (bold) and highlight it."""
        previous, self.current_id = self.current_id, session_id
        now = self.clock()
        options = self.options
        for i, row in enumerate(self._rows):
            if row.session_id in (previous, session_id):
                options.replace_option_prompt_at_index(
                    i,
                    row_content(
                        row,
                        now,
                        row.session_id == session_id,
                        self._snippets.get(row.session_id, ""),
                    ),
                )
        self._highlight(session_id)

    # ------------------------------------------------------------ filter

    def focus_filter(self) -> None:
        self.filter_input.focus()

    @on(Input.Changed, "#session-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.query_text = event.value
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE, self.reload)

    @on(Input.Submitted, "#session-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None
        self.reload()
        row = self.highlighted_row()
        if row is not None:
            self.post_message(self.Selected(row.session_id))

    def apply_filter_now(self) -> None:
        """Run a pending search at once (tests, Enter)."""
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None
        self.reload()

    def action_leave_filter(self) -> None:
        if self.filter_input.has_focus and self.filter_input.value:
            self.filter_input.value = ""
            self.query_text = ""
            self.apply_filter_now()
        else:
            self.post_message(self.Left())

    def action_to_rows(self) -> None:
        if self.filter_input.has_focus:
            self.options.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "leave_filter":
            # Esc stops a streaming reply first; only then does it leave the list.
            return not getattr(self.screen, "reply_running", False)
        if action == "to_rows":
            return self.filter_input.has_focus
        return True

    @on(OptionList.OptionSelected, "#session-rows")
    def _row_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Selected(event.option.id))
