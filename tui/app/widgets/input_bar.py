"""The prompt: a multi-line TextArea where Enter sends and Alt+Enter or Ctrl+J break the line.

Up on the first line walks back through earlier prompts (Down walks forward again, back to
the draft); a draft per session is kept in `drafts.json` so it survives switching sessions
and restarts. Pastes go in whole: TextArea inserts a bracketed paste as one edit.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea

from tui.core.store import write_atomic

NEW_SESSION_KEY = "(new)"


class Drafts:
    """Unsent text per session id, in a small private JSON file written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._drafts: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if self._drafts is None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
            self._drafts = (
                {str(k): str(v) for k, v in data.items() if isinstance(v, str) and v}
                if isinstance(data, dict)
                else {}
            )
        return self._drafts

    def get(self, key: str) -> str:
        return self._load().get(key, "")

    def set(self, key: str, text: str) -> bool:
        """Remember (or forget, for blank text); True if anything changed."""
        drafts = self._load()
        if text.strip():
            if drafts.get(key) == text:
                return False
            drafts[key] = text
        elif drafts.pop(key, None) is None:
            return False
        return True

    def save(self) -> None:
        drafts = self._load()
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            data = json.dumps(drafts, ensure_ascii=False, indent=1).encode("utf-8")
            write_atomic(self.path, data)
            os.chmod(self.path, 0o600)


class InputBar(TextArea):
    DEFAULT_CSS = """
    InputBar {
        height: auto;
        min-height: 3;
        max-height: 12;
    }
    """

    BINDINGS = [
        Binding("enter", "submit", "Send", id="send", show=True),
        Binding("alt+enter,ctrl+j", "newline", "Newline", id="newline", show=False),
        Binding("up", "history_back", "Previous prompt", id="history_back", show=False),
        Binding("down", "history_forward", "Next prompt", id="history_forward", show=False),
    ]

    # Actions of this widget that a key of ours runs before TextArea would insert the key.
    _OWN_ACTIONS = frozenset({"submit", "newline", "history_back", "history_forward"})

    @dataclass
    class Submitted(Message):
        input_bar: InputBar
        text: str
        # The text came from recalling the newest prompt (Up in an empty input): the user
        # edits and resends the last prompt.
        recalled_last: bool

        @property
        def control(self) -> InputBar:
            return self.input_bar

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            "",
            soft_wrap=True,
            tab_behavior="focus",
            show_line_numbers=False,
            highlight_cursor_line=False,
            compact=True,
            placeholder="Message (Enter sends, Alt+Enter new line)",
            id=id,
        )
        self.prompts: list[str] = []  # oldest first
        self._position: int | None = None  # index in history while walking through it
        self._stash = ""  # the draft, put back after walking past the newest prompt

    # ------------------------------------------------------------ keys

    def _keys_for(self, action: str) -> set[str]:
        keymap = self.app._keymap if self.is_attached else {}
        keys: set[str] = set()
        for key, binding in self._bindings:
            if binding.action != action:
                continue
            if binding.id and binding.id in keymap:
                keys.update(k.strip() for k in keymap[binding.id].split(","))
            else:
                keys.add(key)
        return keys

    def _own_action(self, key: str) -> str | None:
        for action in self._OWN_ACTIONS:
            if key in self._keys_for(action):
                return action
        return None

    async def _on_key(self, event: events.Key) -> None:
        # TextArea inserts Enter (and printable keys) in its own key handler, before
        # bindings are looked at; our keys must win, whatever the keymap made them.
        action = self._own_action(event.key)
        if action is not None:
            event.stop()
            event.prevent_default()
            await self.run_action(action)
            return
        await super()._on_key(event)

    # ------------------------------------------------------------ actions

    def action_submit(self) -> None:
        text = self.text
        if not text.strip():
            return
        recalled_last = self._position is not None and self._position == len(self.prompts) - 1
        self.post_message(self.Submitted(self, text, recalled_last))

    def action_newline(self) -> None:
        start, end = self.selection
        self._replace_via_keyboard("\n", start, end)

    def action_history_back(self) -> None:
        if not self.navigator.is_first_wrapped_line(self.cursor_location) or not self.prompts:
            self.action_cursor_up()
            return
        if self._position is None:
            self._stash = self.text
            self._position = len(self.prompts) - 1
        elif self._position > 0:
            self._position -= 1
        else:
            return
        self._show(self.prompts[self._position])

    def action_history_forward(self) -> None:
        if self._position is None or not self.navigator.is_last_wrapped_line(
            self.cursor_location
        ):
            self.action_cursor_down()
            return
        if self._position < len(self.prompts) - 1:
            self._position += 1
            self._show(self.prompts[self._position])
        else:
            self._position = None
            self._show(self._stash)

    def _show(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)

    # ------------------------------------------------------------ the screen's side

    def set_prompts(self, prompts: list[str]) -> None:
        self.prompts = [p for p in prompts if p.strip()]
        self._position = None
        self._stash = ""

    def remember(self, prompt: str) -> None:
        if prompt.strip() and (not self.prompts or self.prompts[-1] != prompt):
            self.prompts.append(prompt)
        self._position = None
        self._stash = ""

    def set_draft(self, text: str) -> None:
        self._position = None
        self._stash = ""
        self.load_text(text)
        self.move_cursor(self.document.end)

    @property
    def draft(self) -> str:
        """The text being written (not a recalled prompt left unedited)."""
        if self._position is not None and self.text == self.prompts[self._position]:
            return self._stash
        return self.text
