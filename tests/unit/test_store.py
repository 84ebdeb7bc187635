"""SessionStore: atomic writes, private modes, locks, outside edits, trash."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from tui.core import fileformat
from tui.core.errors import SessionBusy, SessionFileError
from tui.core.session import Message, Role, Session
from tui.core.store import SessionStore, slug

REPO = Path(__file__).resolve().parents[2]


def _session(title: str = "hello world") -> Session:
    return Session(
        title=title,
        model_id="deepseek:deepseek-v4-flash",
        messages=[Message(Role.USER, datetime(2026, 3, 1, 12, 0, 0), title)],
    )


def test_create_writes_a_private_file_in_private_folders(liu_home: Path) -> None:
    store = SessionStore(liu_home).ensure()
    s = _session()
    path = store.create(s)
    assert path.parent == store.sessions_dir
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for d in (liu_home, store.sessions_dir, store.trash_dir, store.locks_dir):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert path.name == f"2026-11-25-hello-world-{s.session_id[:8]}.md".replace(
        "2026-11-25", f"{s.created_at:%Y-%m-%d}"
    )
    assert fileformat.parse(path.read_text()).session.title == "hello world"


def test_file_names_are_readable_and_keep_any_script() -> None:
    assert slug("LLM的流式输出是什么意思?") == "llm的流式输出是什么意思"
    assert slug("  ") == "session"
    assert slug("a/b\\c: d") == "a-b-c-d"


def test_update_rereads_a_file_changed_by_someone_else(liu_home: Path) -> None:
    store = SessionStore(liu_home)
    s = _session()
    path = store.create(s)
    # An editor changes the title and adds a line to the message behind our back.
    text = path.read_text().replace("title: hello world", "title: edited by hand")
    text = text.replace("\nhello world\n", "\nhello world\nadded in vim\n")
    path.write_text(text)

    def add_reply(session: Session) -> None:
        session.messages.append(Message(Role.ASSISTANT, datetime(2026, 3, 1, 12, 0, 5), "hi"))

    merged = store.update(s.session_id, add_reply)
    on_disk = fileformat.parse(path.read_text()).session
    assert on_disk == merged
    assert on_disk.title == "edited by hand"
    assert on_disk.messages[0].text == "hello world\nadded in vim"
    assert on_disk.messages[1].text == "hi"


def test_a_failed_change_leaves_the_file_as_it_was(liu_home: Path) -> None:
    store = SessionStore(liu_home)
    s = _session()
    path = store.create(s)
    before = path.read_bytes()

    def broken(session: Session) -> None:
        session.title = "half done"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.update(s.session_id, broken)
    assert path.read_bytes() == before
    assert store.update(s.session_id, lambda _: None).title == "hello world"


def test_create_refuses_an_id_that_exists(liu_home: Path) -> None:
    store = SessionStore(liu_home)
    s = _session()
    store.create(s)
    with pytest.raises(SessionFileError, match="already exists"):
        store.create(s)


def test_trash_and_restore(liu_home: Path) -> None:
    store = SessionStore(liu_home)
    s = _session()
    path = store.create(s)
    trashed = store.trash(s.session_id)
    assert not path.exists() and trashed.exists()
    restored = store.restore(s.session_id)
    assert restored == path and path.exists()


def test_stale_temporary_files_of_dead_writers_are_cleaned(liu_home: Path) -> None:
    store = SessionStore(liu_home).ensure()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    stale = store.sessions_dir / f".x.md.{dead_pid}.123.tmp"
    ours = store.sessions_dir / f".y.md.{os.getpid()}.456.tmp"
    stale.write_text("half")
    ours.write_text("in progress")
    assert store.clean_stale_temps() == 1
    assert not stale.exists() and ours.exists()


def test_reply_lock_tells_a_second_writer_the_session_is_busy(liu_home: Path) -> None:
    store = SessionStore(liu_home)
    s = _session()
    store.create(s)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from tui.core.store import SessionStore
            store = SessionStore(Path({str(liu_home)!r}))
            with store.reply_lock({s.session_id!r}):
                print("locked", flush=True)
                sys.stdin.readline()
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(SessionBusy, match=rf"pid {holder.pid}"), store.reply_lock(s.session_id):
            pass
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(10)
    with store.reply_lock(s.session_id):  # free again once the other process is done
        pass


_WRITER = textwrap.dedent("""
    import sys
    from datetime import datetime
    from pathlib import Path
    from tui.core.session import Message, Role
    from tui.core.store import SessionStore

    home, sid, tag, n = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = SessionStore(home)
    for i in range(n):
        store.update(sid, lambda s: s.messages.append(
            Message(Role.USER, datetime.now(), f"{tag}-{i}")))
""")


def test_two_processes_writing_one_session_lose_nothing(liu_home: Path) -> None:
    store = SessionStore(liu_home)
    s = _session()
    path = store.create(s)
    n = 40
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(liu_home), s.session_id, tag, str(n)], cwd=REPO
        )
        for tag in ("a", "b")
    ]
    for p in procs:
        assert p.wait(60) == 0
    texts = [m.text for m in fileformat.parse(path.read_text()).session.messages[1:]]
    assert sorted(texts) == sorted([f"a-{i}" for i in range(n)] + [f"b-{i}" for i in range(n)])
    # Each writer's own messages stay in its order.
    assert [t for t in texts if t.startswith("a")] == [f"a-{i}" for i in range(n)]
    assert not [p for p in store.sessions_dir.iterdir() if p.name.endswith(".tmp")]
