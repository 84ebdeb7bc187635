"""Nothing lost, driven through the app: two instances on one store, network faults, hostile
session files at start, and API keys.

The two-instance and secrets tests run the real `liu` in pseudo-terminals (every byte it
writes is kept); the fault and hostile-file tests drive the app with Pilot against the
loopback server. No timing assertions: states are waited for with a bound.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import random
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from fcntl import ioctl
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from textual.widgets import Label

from tests.server import FakeLLMServer, Reply, running_server
from tests.ui.conftest import MakeApp, lab_config, wait_until, write_config
from tests.ui.test_terminal import REPO, Terminal
from tests.unit.test_hostile_files import SEED, _mutations
from tui.app.app import LiuApp
from tui.app.screens.chat import ChatScreen
from tui.app.widgets.message_view import ReplyView
from tui.core import fileformat
from tui.core.errors import SessionBusy
from tui.core.library import Library
from tui.core.session import Message, Role, Session

# ------------------------------------------------------------------------------ helpers


class Pty(Terminal):
    """The Terminal of test_terminal, with a working directory and extra environment."""

    def __init__(
        self, home: Path, *args: str, cwd: Path = REPO, env: dict[str, str] | None = None
    ) -> None:
        cols, rows = 110, 30  # wide enough for the session list
        self.master, slave = pty.openpty()
        ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full = {**os.environ, **(env or {}), "LIU_HOME": str(home), "TERM": "xterm-256color"}
        full.pop("TEXTUAL_COLOR_SYSTEM", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui", *args],
            stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=full, start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        self.output = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def ready(self) -> None:
        self.wait_for(lambda: b"Enter sends" in self.output, "the input bar")

    def keys(self, *keys: str) -> None:
        """Keys at a person's pace: a key that moves the focus lands before the next one."""
        for key in keys:
            self.type(key)
            time.sleep(0.3)

    def saw(self, text: bytes, since: int = 0) -> bool:
        return text in self.output[since:]

    def quit(self) -> int:
        self.type("\x11")  # Ctrl+Q
        code = self.proc.wait(20)
        self._reader.join(5)
        return code


@pytest.fixture
def terminals() -> Iterator[list[Pty]]:
    made: list[Pty] = []
    yield made
    for term in made:
        term.close()


def sessions_in(home: Path) -> dict[str, Session]:
    """Every session file that parses, by title (the first prompt)."""
    out: dict[str, Session] = {}
    for path in sorted((home / "sessions").glob("*.md")):
        session = fileformat.parse_bytes(path.read_bytes(), str(path)).session
        out[session.title] = session
    return out


def complete(session: Session | None, last_word: str) -> bool:
    if session is None or not session.messages:
        return False
    last = session.messages[-1]
    return (
        last.role is Role.ASSISTANT
        and last.status is None
        and last.text.rstrip().endswith(last_word)
    )


def pty_config(home: Path, server: FakeLLMServer, extra: str = "") -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        'default_model = "lab:fake-model"\ncheckpoint_interval = 0.2\n'
        f'[providers.lab]\nkind = "openai"\nbase_url = "{server.openai_url}"\n'
        f'models = ["fake-model"]\n{extra}'
    )


def read_session(session_id: str) -> Session:
    lib = Library.open()
    try:
        path = lib.index.path_of(session_id)
        assert path is not None
        return lib.store.read(path).session
    finally:
        lib.close()


def error_line(chat: ChatScreen) -> str:
    view = chat.log_widget.views[-1]
    return str(view.query_one(".message--error", Label).render())


# ------------------------------------------------------------------ 1. two instances, one store


def test_two_instances_stream_side_by_side_list_each_other_and_never_interleave(
    liu_home: Path, terminals: list[Pty]
) -> None:
    with running_server(Reply(tokens=5)) as server:
        pty_config(liu_home, server)
        server.script(Reply(tokens=40, rate=40), Reply(tokens=40, rate=40))
        a = Pty(liu_home, "--new")
        b = Pty(liu_home, "--new")
        terminals += [a, b]
        a.ready()
        b.ready()

        # Both stream at once, each into its own new session; both files end complete.
        a.type("alphaquery\r")
        b.type("bravoquery\r")

        def both_done() -> bool:
            found = sessions_in(liu_home)
            return complete(found.get("alphaquery"), "w39") and complete(
                found.get("bravoquery"), "w39"
            )

        a.wait_for(both_done, "both replies complete in their files")
        for title in ("alphaquery", "bravoquery"):
            s = sessions_in(liu_home)[title]
            assert [m.role for m in s.messages] == [Role.USER, Role.ASSISTANT]
            assert s.messages[1].text.rstrip() == " ".join(f"w{i}" for i in range(40))

        # Each lists the other's session.
        a.wait_for(lambda: a.saw(b"bravoquery"), "b's session in a's list")
        b.wait_for(lambda: b.saw(b"alphaquery"), "a's session in b's list")

        # A session b makes while a sits idle shows up in a's list (the periodic refresh).
        mark = len(a.output)
        b.keys("\x0e", "charliequery\r")  # Ctrl+N
        b.wait_for(lambda: complete(sessions_in(liu_home).get("charliequery"), "w4"), "charlie")
        a.wait_for(lambda: a.saw(b"charliequery", mark), "b's new session in idle a's list")

        # a streams into its session (stalled, so it holds the reply lock) ...
        server.script(Reply(tokens=50, stall_after=3, stall_seconds=30))
        a.type("echoquery\r")
        a.wait_for(
            lambda: len(sessions_in(liu_home)["alphaquery"].messages) >= 3, "a's second prompt"
        )
        # ... and b opens the same session and sends: told it is busy, its prompt kept.
        mark_b = len(b.output)
        b.keys("\x06", "alphaquery\r")  # Ctrl+F: the session filter, the session
        b.wait_for(lambda: b.saw(b"echoquery", mark_b), "a's session opened in b")
        b.type("foxtrotquery\r")
        b.wait_for(lambda: b.saw(b"busy", mark_b), "the busy line")
        assert b.quit() == 0
        alpha = sessions_in(liu_home)["alphaquery"]
        drafts = json.loads((liu_home / "drafts.json").read_text())
        assert drafts.get(alpha.session_id) == "foxtrotquery"  # nothing lost

        # a stops its reply: the file holds a's exchanges only, in order, nothing interleaved.
        a.type("\x1b")
        a.wait_for(
            lambda: (
                (m := sessions_in(liu_home)["alphaquery"].messages[-1]).status is not None
                and m.status.reason == "cancelled"
            ),
            "a's stopped reply saved",
        )
        assert a.quit() == 0
        alpha = sessions_in(liu_home)["alphaquery"]
        assert [(m.role, m.text.split(" ")[0]) for m in alpha.messages] == [
            (Role.USER, "alphaquery"),
            (Role.ASSISTANT, "w0"),
            (Role.USER, "echoquery"),
            (Role.ASSISTANT, "w0"),
        ]
        assert alpha.messages[-1].text.rstrip() == "w0 w1 w2"
        assert all("foxtrot" not in p.read_text() for p in (liu_home / "sessions").glob("*.md"))


async def test_a_busy_session_says_so_and_gives_the_prompt_back(
    lab_server: FakeLLMServer, make_app: MakeApp
) -> None:
    """The same, in process: another liu holds the reply lock of the session on screen."""
    lab_server.script(Reply(text="first answer"), Reply(text="after the wait"))
    app = make_app(new=True)
    async with app.run_test(size=(110, 30)) as pilot:
        chat = app.chat
        chat.input_bar.focus()
        await pilot.press(*"first", "enter")
        await app.workers.wait_for_complete()
        sid = chat.session.session_id
        other = Library.open()  # its own lock file descriptor: another process, to flock
        try:
            with other.store.reply_lock(sid):
                await pilot.press(*"second prompt", "enter")
                await wait_until(pilot, lambda: chat.live is None and bool(chat.input_bar.text))
                assert chat.input_bar.text == "second prompt"
                line = error_line(chat)
                assert "is busy" in line and "back in the input" in line
                assert any("is busy" in n.message for n in app._notifications)
                assert [m.text for m in read_session(sid).messages] == ["first", "first answer"]
                # Still held by the other: the app took nothing.
                with pytest.raises(SessionBusy), other.store.reply_lock(sid):
                    pass
        finally:
            other.close()
        # Once the other is done, Enter sends the same prompt.
        chat.input_bar.focus()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [m.text for m in read_session(sid).messages] == [
            "first",
            "first answer",
            "second prompt",
            "after the wait",
        ]


async def test_the_list_notices_files_changed_by_others_and_keeps_the_filter(
    lab_server: FakeLLMServer, make_app: MakeApp, liu_home: Path
) -> None:
    def made(title: str) -> Session:
        s = Session(title=title, model_id="lab:fake-model")
        s.messages.append(Message(Role.USER, datetime(2026, 1, 1), f"{title} text"))
        return s

    lib = Library.open()
    first = made("kiwi one")
    lib.store.create(first)
    app = make_app(new=True)
    async with app.run_test(size=(110, 30)) as pilot:
        listing = app.chat.session_list
        await pilot.press("ctrl+f", *"kiwi")
        listing.apply_filter_now()
        assert [r.title for r in listing.rows] == ["kiwi one"]
        # Another process writes a file straight into the folder (no index update).
        other = made("kiwi two")
        path = lib.store.new_path(other)
        path.write_text(fileformat.write(other))
        (liu_home / "sessions" / "mango.md").write_text(fileformat.write(made("mango")))
        listing.refresh_from_files()  # what the timer does every 2 s
        await wait_until(pilot, lambda: len(listing.rows) == 2)
        assert {r.title for r in listing.rows} == {"kiwi one", "kiwi two"}  # filter kept
        assert listing.filter_input.value == "kiwi"
        # Nothing changed: nothing is rendered again.
        before = listing.options.option_count, listing.rows
        listing.refresh_from_files()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert (listing.options.option_count, listing.rows) == before
    lib.close()


async def test_the_list_looks_for_others_changes_once_a_reply_has_ended(
    lab_server: FakeLLMServer, make_app: MakeApp, liu_home: Path
) -> None:
    """A streaming reply's checkpoints change its file every second or so; the list does
    not re-read the folder meanwhile, and shows what others wrote once the reply ends."""
    lab_server.script(
        Reply(text="one two three four five six", rate=50, stall_after=2, stall_seconds=3.0)
    )
    app = make_app(new=True)
    async with app.run_test(size=(110, 30)) as pilot:
        chat = app.chat
        listing = chat.session_list
        await pilot.press(*"go", "enter")
        await wait_until(pilot, lambda: chat.live is not None and bool(chat.live.text))
        other = Session(title="written by another", model_id="lab:fake-model")
        other.messages.append(Message(Role.USER, datetime(2026, 1, 1), "elsewhere"))
        (liu_home / "sessions" / "other.md").write_text(fileformat.write(other))
        listing.refresh_from_files()
        await pilot.pause(0.3)
        assert chat.live is not None  # still streaming
        assert "written by another" not in {r.title for r in listing.rows}
        await app.workers.wait_for_complete()
        await wait_until(pilot, lambda: chat.live is None)
        listing.refresh_from_files()
        await wait_until(pilot, lambda: "written by another" in {r.title for r in listing.rows})


# ------------------------------------------------------------------ 2. network faults


@dataclass(frozen=True)
class Fault:
    name: str
    replies: tuple[Reply, ...]
    says: tuple[str, ...]  # in the error line
    partial: str | None  # the text kept, None: nothing had arrived
    read_timeout: float = 10.0
    gate_retries: bool = False


FAULTS = [
    Fault(
        "cut",
        (Reply(tokens=50, stall_after=3, stall_seconds=0.3, cut_after=5),),
        ("was cut", "Ctrl+G tries again", "partial reply is kept"),
        "w0 w1 w2 w3 w4",
    ),
    Fault(
        "stall",
        (Reply(tokens=50, stall_after=3, stall_seconds=30),),
        ("sent nothing for 0.5 s (read timeout)", "Ctrl+G tries again", "partial reply is kept"),
        "w0 w1 w2",
        read_timeout=0.5,
    ),
    Fault(
        "malformed",
        (Reply(tokens=50, stall_after=3, stall_seconds=0.3, malformed_after=5),),
        ("malformed event", "partial reply is kept"),
        "w0 w1 w2 w3 w4",
    ),
    Fault(
        "500",
        (Reply.error(500), Reply.error(500), Reply.error(500)),
        ("answered 500", "after 2 retries", "Ctrl+G tries again"),
        None,
        gate_retries=True,
    ),
    Fault("html", (Reply.html_page(200),), ("an HTML page, not an event stream",), None),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
async def test_network_faults_lose_nothing(
    lab_server: FakeLLMServer, make_app: MakeApp, liu_home: Path, fault: Fault
) -> None:
    write_config(liu_home, f"read_timeout = {fault.read_timeout}\n" + lab_config(lab_server.port))
    lab_server.script(*fault.replies, Reply(text="and the rest."))
    app = make_app(new=True)
    typed = asyncio.Event()
    if fault.gate_retries:

        async def retry_when_typed(seconds: float) -> None:
            await asyncio.wait_for(typed.wait(), 15)

        app.retry_sleep = retry_when_typed
    async with app.run_test(size=(110, 30)) as pilot:
        chat = app.chat
        chat.input_bar.focus()
        await pilot.press(*"tell me", "enter")
        if fault.partial is not None:
            # Until the first tokens are in, or (on a slow machine) the reply already ended.
            await wait_until(
                pilot,
                lambda: chat.live is None or "".join(chat.live.text).startswith("w0"),
            )
        # The user writes the next prompt while the reply streams (or is retried).
        await pilot.press(*"my next draft")
        typed.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, ChatScreen)
        assert chat.live is None
        assert chat.input_bar.text == "my next draft"
        line = error_line(chat)
        for words in fault.says:
            assert words in line, (words, line)
        session = read_session(chat.session.session_id)
        assert session.messages[0].text == "tell me"
        view = chat.log_widget.views[-1]
        assert isinstance(view, ReplyView)
        if fault.partial is None:
            assert [m.role for m in session.messages] == [Role.USER]
        else:
            kept = session.messages[-1]
            assert kept.role is Role.ASSISTANT and kept.text.rstrip() == fault.partial
            assert kept.status is not None and kept.status.state == "interrupted"
            assert view.text.startswith(fault.partial)
        # And it goes on: Ctrl+G asks again; the draft stays where it is.
        await pilot.press("ctrl+g")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert read_session(chat.session.session_id).messages[-1].text == "and the rest."
        assert chat.input_bar.text == "my next draft"


# ------------------------------------------------------------------ 3. hostile files at start


def _good(i: int) -> Session:
    return Session(
        session_id=f"{i:08x}-0000-4000-8000-000000000000",
        title=f"session {i}",
        model_id="lab:fake-model",
        messages=[Message(Role.USER, datetime(2026, 1, 1, 0, 0, i % 60), f"text {i}")],
    )


def _broken_files() -> list[tuple[str, bytes]]:
    rng = random.Random(7)
    files = [
        (f"broken-{i:02d}-random.md", bytes(rng.randrange(256) for _ in range(300)))
        for i in range(4)
    ]
    files += [(f"broken-{i:02d}-truncated.md", SEED[: 40 + i * 7]) for i in range(4, 7)]
    files += [
        ("broken-07-yaml.md", b"---\nsession_id: [unclosed\ntitle: {\n---\n\n## User\nhi\n"),
        ("broken-08-yaml.md", b"---\n: : :\n\t- tab\n---\n"),
        ("broken-09-yaml.md", b"---\nsession_id: 1\ncreated_at: not a date\n---\n"),
    ]
    return files


async def test_a_folder_of_1000_with_10_broken_starts_lists_990_and_says_so(
    lab_server: FakeLLMServer, make_app: MakeApp, liu_home: Path
) -> None:
    folder = liu_home / "sessions"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for i in range(990):
        (folder / f"s{i:04d}.md").write_text(fileformat.write(_good(i)))
    for name, data in _broken_files():
        (folder / name).write_bytes(data)
    app = make_app(library=Library.open())
    async with app.run_test(size=(110, 30)) as pilot:
        chat = app.chat
        listing = chat.session_list
        while not listing._exhausted:
            listing.load_more()
        await pilot.pause()
        assert len(listing.rows) == 990
        assert listing.options.option_count == 990
        assert not any(r.path.name.startswith("broken") for r in listing.rows)
        notes = [n.message for n in app._notifications]
        said = [n for n in notes if "could not be read" in n]
        assert len(said) == 1, notes
        assert said[0].startswith("10 session file(s) could not be read; first: ")
        assert "broken-00-random.md" in said[0]
        assert chat.saved  # it opened the most recent session, as always


def test_a_fuzzed_session_file_never_crashes_the_start(liu_home: Path) -> None:
    good = _good(1)

    @settings(
        max_examples=6,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(_mutations())
    def start_with(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            os.environ["LIU_HOME"] = str(home)  # the liu_home fixture restores it afterwards
            lib = Library.open(home)
            lib.store.create(good)
            (lib.store.sessions_dir / "fuzzed.md").write_bytes(data)
            from tui.config import load_settings

            app = LiuApp(load_settings(), library=Library.open(home), model="lab:fake-model")

            async def run() -> None:
                async with app.run_test(size=(100, 30)) as pilot:
                    await pilot.pause()
                    chat = app.chat
                    assert good.session_id in {r.session_id for r in chat.session_list.rows}
                    assert chat.saved  # whichever parsed session is newest is on screen

            asyncio.run(run())
            lib.close()

    start_with()


# ------------------------------------------------------------------ 4. secrets


KEYS = {
    "LAB_API_KEY": "sk-lab-SECRET-aaaaaaaaaaaaaaaaaaaaaaaa",
    "OPENAI_API_KEY": "sk-openai-SECRET-bbbbbbbbbbbbbbbbbbbbbb",
    "ANTHROPIC_API_KEY": "fake-anthropic-SECRET-cccccccccccccccc",
}


def test_keys_reach_no_file_and_no_terminal_byte(
    liu_home: Path, tmp_path: Path, terminals: list[Pty]
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    with running_server() as server:
        pty_config(liu_home, server, 'api_key_env = "LAB_API_KEY"\n')
        key = KEYS["LAB_API_KEY"]
        server.script(
            Reply(text="an answer"),
            Reply.error(401, error_message=f"Incorrect API key provided: {key}"),
        )
        term = Pty(liu_home, "--new", cwd=exports, env=KEYS)
        terminals.append(term)
        term.ready()
        term.type("first\r")
        term.wait_for(lambda: complete(sessions_in(liu_home).get("first"), "an answer"), "reply")
        term.type("second\r")
        term.wait_for(lambda: term.saw(b"401"), "the 401 line")
        assert server.chat_requests()[0].headers.get("authorization") == f"Bearer {key}"
        # Export from the list (Ctrl+F, Down to the rows, Ctrl+E) ...
        term.keys("\x06", "\x1b[B", "\x05")
        term.wait_for(lambda: any(exports.glob("*.md")), "the markdown export")
        # ... and from the palette, which lists commands (and any key-bearing state).
        term.keys("\x10")  # Ctrl+P
        term.wait_for(lambda: term.saw(b"Switch model"), "the palette")
        term.type("export session as json")
        term.wait_for(lambda: term.saw(b".json file here"), "the palette's match")
        term.type("\r")
        term.wait_for(lambda: any(exports.glob("*.json")), "the JSON export")
        term.keys("\x0f")  # Ctrl+O: the model picker, which says which keys are set
        term.wait_for(lambda: term.saw(b"type to filter"), "the model picker")
        term.type("\x1b")
        assert term.quit() == 0
    out = bytes(term.output)
    assert b"401" in out
    for name, secret in KEYS.items():
        assert secret.encode() not in out, f"{name} written to the terminal"
        for part in (secret[:12], secret[-12:]):  # nor a piece of it
            assert part.encode() not in out, f"part of {name} written to the terminal"
    files = [p for root in (liu_home, exports) for p in root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" for p in files) and any(p.suffix == ".md" for p in files)
    for path in files:
        data = path.read_bytes()
        for name, secret in KEYS.items():
            assert secret.encode() not in data, f"{name} in {path}"
