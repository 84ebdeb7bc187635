"""Nothing lost when `liu ask` is killed with SIGKILL mid-reply or mid-write.

The reply is checkpointed every `checkpoint_interval` seconds; after a kill the session file
must parse, hold the prompt, and hold the reply up to about one interval before the kill.
`LIU_CRASH_KILLS` raises the number of kills for a stress run (default 52, four at a time).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from tests.server import FakeLLMServer, Reply, running_server
from tui.core import fileformat
from tui.core.session import Message, Role, Session, Status
from tui.core.store import SessionStore

REPO = Path(__file__).resolve().parents[2]
INTERVAL = 0.25  # checkpoint interval for these runs (seconds)
RATE = 200  # tokens per second from the server
SLACK = 0.35  # scheduling on a loaded 2-core machine


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with running_server(Reply(tokens=100_000, rate=RATE)) as s:
        yield s


def _config(home: Path, server: FakeLLMServer) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'default_model = "lab:fake-model"\ncheckpoint_interval = {INTERVAL}\n'
        f'[providers.lab]\nkind = "openai"\nbase_url = "{server.openai_url}"\n'
        'models = ["fake-model"]\n'
    )


class Reader(threading.Thread):
    """Reads the child's stdout as it comes, remembering when each piece arrived."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        super().__init__(daemon=True)
        self.proc = proc
        self.pieces: list[tuple[float, str]] = []

    def run(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while chunk := os.read(fd, 65536):
            self.pieces.append((time.monotonic(), chunk.decode("utf-8", "replace")))

    def text_until(self, moment: float) -> str:
        return "".join(text for at, text in list(self.pieces) if at <= moment)


def _one_kill(home: Path, seed: int, prompt: str) -> tuple[str, str, str]:
    """Run `liu ask`, SIGKILL it at a random moment; (printed before the deadline, file text
    after the kill, the session's prompt)."""
    rnd = random.Random(seed)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui", "ask", prompt],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
        env={**os.environ, "LIU_HOME": str(home)},
    )
    reader = Reader(proc)
    reader.start()
    deadline = time.monotonic() + 30
    while not reader.pieces and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(rnd.uniform(0.0, 1.5))
    killed_at = time.monotonic()
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    reader.join(5)
    must_have = reader.text_until(killed_at - INTERVAL - SLACK)
    files = [p for p in (home / "sessions").glob("*.md")]
    assert len(files) == 1
    return must_have, files[0].read_text(encoding="utf-8"), prompt


def test_sigkill_mid_reply_loses_at_most_the_last_interval(
    server: FakeLLMServer, tmp_path: Path
) -> None:
    kills = int(os.environ.get("LIU_CRASH_KILLS", "52"))
    homes = [tmp_path / f"home-{i}" for i in range(kills)]
    for home in homes:
        _config(home, server)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: _one_kill(homes[i], i, f"prompt {i}"), range(kills)))
    lost = 0
    for must_have, text, prompt in results:
        result = fileformat.parse(text)  # always parses
        s = result.session
        assert s.messages[0].role is Role.USER and s.messages[0].text == prompt
        saved = s.messages[1].text if len(s.messages) > 1 else ""
        if len(s.messages) > 1:
            assert s.messages[1].status == Status("interrupted", "crash")
        if not saved.startswith(must_have.strip()):
            lost += 1
    assert lost == 0, f"{lost} of {kills} kills lost more than {INTERVAL + SLACK} s of the reply"
    # The next start removes what killed writers left; nothing else is left behind.
    for home in homes[:5]:
        subprocess.run(
            [sys.executable, "-m", "tui", "sessions", "list"],
            cwd=REPO, env={**os.environ, "LIU_HOME": str(home)}, capture_output=True, check=True,
        )  # fmt: skip
        assert not [p for p in (home / "sessions").iterdir() if p.name.endswith(".tmp")]


_BIG_WRITER = """
import sys
from datetime import datetime
from pathlib import Path
from tui.core.session import Message, Role
from tui.core.store import SessionStore

store = SessionStore(Path(sys.argv[1]))
sid = sys.argv[2]
i = 0
while True:
    i += 1
    def change(s, i=i):
        s.messages[-1].text = "checkpoint %d " % i + "x" * (i % 1000)
    store.update(sid, change)
    print(i, flush=True)
"""


def test_sigkill_during_the_checkpoint_write_leaves_old_or_new(liu_home: Path) -> None:
    store = SessionStore(liu_home)
    history = [
        Message(Role.USER if i % 2 == 0 else Role.ASSISTANT, datetime(2026, 1, 1), "y" * 20_000)
        for i in range(200)
    ]  # about 4 MB, so each write takes long enough to be hit
    s = Session(title="big", messages=[*history, Message(Role.ASSISTANT, datetime(2026, 1, 2))])
    path = store.create(s)
    rnd = random.Random(7)
    kills = int(os.environ.get("LIU_CRASH_WRITE_KILLS", "20"))
    for _ in range(kills):
        proc = subprocess.Popen(
            [sys.executable, "-c", _BIG_WRITER, str(liu_home), s.session_id],
            stdout=subprocess.PIPE, cwd=REPO, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        proc.stdout.readline()  # it is writing
        time.sleep(rnd.uniform(0.0, 0.3))
        proc.kill()
        proc.wait(10)
        result = fileformat.parse(path.read_text())
        assert len(result.session.messages) == 201
        assert result.session.messages[-1].text.startswith("checkpoint ")
        assert result.problems == []
    SessionStore(liu_home).ensure()  # a new start cleans the dead writers' temp files
    assert not [p for p in store.sessions_dir.iterdir() if p.name.endswith(".tmp")]
