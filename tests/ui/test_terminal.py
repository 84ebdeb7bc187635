"""The real app in a real pseudo-terminal: what it writes to the terminal, and signals.

These run `liu` as a user's shell would (a pty, TERM=xterm-256color) against the loopback
server, and read every byte the app writes.
"""

from __future__ import annotations

import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from fcntl import ioctl
from pathlib import Path

import pytest

from tests.server import FakeLLMServer, Reply, running_server
from tui.core import fileformat
from tui.core.session import Session

REPO = Path(__file__).resolve().parents[2]


class Terminal:
    """A pty running liu, with everything it wrote kept in `output`."""

    def __init__(self, home: Path, *args: str, cols: int = 100, rows: int = 30) -> None:
        self.master, slave = pty.openpty()
        ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {**os.environ, "LIU_HOME": str(home), "TERM": "xterm-256color"}
        env.pop("TEXTUAL_COLOR_SYSTEM", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui", *args],
            stdin=slave, stdout=slave, stderr=slave, cwd=REPO, env=env, start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        self.output = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.output += data

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def wait_for(self, check: Callable[[], bool], what: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if check():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        tail = bytes(self.output[-2000:]).decode("utf-8", "replace")
        raise AssertionError(f"never saw {what}; exit={self.proc.poll()}; screen tail: {tail!r}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)
        os.close(self.master)


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with running_server() as s:
        yield s


@pytest.fixture
def home(liu_home: Path, server: FakeLLMServer) -> Path:
    liu_home.mkdir(parents=True, exist_ok=True)
    (liu_home / "config.toml").write_text(
        'default_model = "lab:fake-model"\ncheckpoint_interval = 0.2\n'
        f'[providers.lab]\nkind = "openai"\nbase_url = "{server.openai_url}"\n'
        'models = ["fake-model"]\n'
    )
    return liu_home


def _session_files(home: Path) -> list[Path]:
    return sorted((home / "sessions").glob("*.md"))


def _only_session(home: Path) -> Session:
    files = _session_files(home)
    assert len(files) == 1
    return fileformat.parse_bytes(files[0].read_bytes(), str(files[0])).session


def _ready(term: Terminal) -> Callable[[], bool]:
    return lambda: b"Enter sends" in term.output


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_mid_reply_saves_the_partial_and_restores_the_terminal(
    server: FakeLLMServer, home: Path, sig: signal.Signals, code: int
) -> None:
    server.script(Reply(tokens=5000, rate=100))
    term = Terminal(home, "--new")
    try:
        term.wait_for(_ready(term), "the input bar")
        term.type("count for me\r")

        def partial_saved() -> bool:
            files = _session_files(home)
            return bool(files) and "w5 " in files[0].read_text()

        term.wait_for(partial_saved, "a checkpoint of the reply")
        mark = len(term.output)
        term.proc.send_signal(sig)
        assert term.proc.wait(20) == code
        term._reader.join(5)
        tail = bytes(term.output[mark:])
        assert b"\x1b[?1049l" in tail  # left the alternate screen
        assert b"\x1b[?25h" in tail  # cursor shown again
        reply = _only_session(home).messages[-1]
        assert reply.status is not None and reply.status.state == "interrupted"
        assert reply.text.startswith("w0 w1 w2 w3 w4 w5")
    finally:
        term.close()


HOSTILE = (
    "copy \x1b]52;c;SGFja2Vk\x07 this "
    "link \x1b]8;;http://evil.example\x07click\x1b]8;;\x07 "
    "clear \x1b[2J\x1b[H title \x1b]0;pwned\x07 "
    "markup [bold]b[/bold] [link=http://evil.example]x[/link] "
    "nul \x00 bell \x07 c1 \x9b31m end"
)


def test_hostile_reply_bytes_never_reach_the_terminal(server: FakeLLMServer, home: Path) -> None:
    server.script(Reply(text=HOSTILE))
    term = Terminal(home, "--new")
    try:
        term.wait_for(_ready(term), "the input bar")
        term.type("be nasty\r")

        def finished() -> bool:
            files = _session_files(home)
            if not files:
                return False
            messages = _only_session(home).messages
            return len(messages) == 2 and messages[-1].text.endswith("end")

        term.wait_for(finished, "the finished reply")
        term.wait_for(lambda: b"end" in term.output[-20000:], "the reply on screen")
        time.sleep(0.5)  # let the final frame be written
        out = bytes(term.output)
        for raw in (
            b"\x1b]52;c;SGFja2Vk",
            b"\x1b]8;;http://evil.example",
            b"\x1b]0;pwned",
            b"\x9b31m",
            b"\x00",
        ):
            assert raw not in out, raw
        assert b"[bold]b[/bold]" in out  # markup shown as text
        # The file keeps exactly what the model sent.
        assert _only_session(home).messages[-1].text == HOSTILE.replace("\r\n", "\n")
    finally:
        term.close()


def test_huge_lines_deep_lists_and_a_2mb_token_keep_the_app_responsive(
    server: FakeLLMServer, home: Path
) -> None:
    nested = "\n".join("  " * depth + f"- level {depth}" for depth in range(60))
    text = "x" * 50_000 + "\n\n" + nested + "\n\nafter the storm ZZDONE"
    server.script(Reply(text=text, big_event=2 * 1024 * 1024))
    term = Terminal(home, "--new")
    try:
        term.wait_for(_ready(term), "the input bar")
        term.type("stress\r")

        def finished() -> bool:
            files = _session_files(home)
            if not files:
                return False
            messages = _only_session(home).messages
            return len(messages) == 2 and messages[-1].status is None

        term.wait_for(finished, "the finished reply", seconds=120)
        reply = _only_session(home).messages[-1]
        assert len(reply.text) == 2 * 1024 * 1024 + len(text)
        assert reply.text.endswith("ZZDONE")
        # Still answering keys: the model picker opens.
        mark = len(term.output)
        term.type("\x0f")  # Ctrl+O
        term.wait_for(lambda: b"Model for the next reply" in term.output[mark:], "the picker")
    finally:
        term.close()
