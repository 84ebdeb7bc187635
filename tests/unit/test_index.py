"""The FTS5 index: a cache of the files that notices outside edits and rebuilds itself."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tui.core.errors import LiuError
from tui.core.library import Library
from tui.core.session import Message, Role, Session


def _add(lib: Library, title: str, text: str, when: datetime) -> Session:
    s = Session(title=title, created_at=when, messages=[Message(Role.USER, when, text)])
    lib.store.create(s)
    return s


def test_list_is_newest_first_and_writes_refresh_it(liu_home: Path) -> None:
    lib = Library.open(liu_home)
    old = _add(lib, "old", "first", datetime(2026, 1, 1))
    new = _add(lib, "new", "second", datetime(2026, 2, 1))
    assert [r.session_id for r in lib.index.recent()] == [new.session_id, old.session_id]
    lib.store.update(
        old.session_id,
        lambda s: s.messages.append(Message(Role.ASSISTANT, datetime(2026, 3, 1), "reply")),
    )
    rows = lib.index.recent()
    assert rows[0].session_id == old.session_id and rows[0].message_count == 2


def test_a_write_announced_later_is_indexed_at_announce(liu_home: Path) -> None:
    lib = Library.open(liu_home)
    s = _add(lib, "a title", "first words", datetime(2026, 1, 1))

    def reply(text: str) -> Callable[[Session], None]:
        return lambda s: s.messages.append(Message(Role.ASSISTANT, datetime(2026, 1, 2), text))

    lib.store.update(s.session_id, reply("quokka"), notify="later")
    assert lib.index.search("quokka") == []  # written, not yet indexed
    lib.store.announce()
    assert lib.index.search("quokka")[0].row.session_id == s.session_id
    assert lib.index.recent()[0].message_count == 2

    lib.store.update(s.session_id, reply("wombat"), notify="later")
    lib.store.update(s.session_id, reply("numbat"))  # a write announced at once covers it
    assert lib.index.search("wombat")[0].row.message_count == 4
    lib.store.announce()  # nothing left to announce: no second refresh of a newer file
    assert lib.index.search("numbat")[0].row.message_count == 4


def test_search_finds_cjk_and_words_with_a_snippet(liu_home: Path, seed_text: str) -> None:
    lib = Library.open(liu_home)
    (lib.store.sessions_dir / "seed.md").write_text(seed_text)
    _add(
        lib, "streaming in Python", "Use httpx to stream server-sent events.", datetime(2026, 1, 2)
    )
    lib.index.sync()
    hits = lib.index.search("流式输出")
    assert [h.row.title for h in hits] == ["LLM的流式输出是什么意思?"]
    assert "\x02流\x03" in hits[0].snippet or "\x02流式输出\x03" in hits[0].snippet.replace(
        "\x03\x02", ""
    )
    assert lib.index.search("流式")[0].row.title.startswith("LLM")
    assert lib.index.search("strea")[0].row.title == "streaming in Python"
    assert lib.index.search("websocket")[0].row.title.startswith("LLM")
    assert lib.index.search("nothing-like-this") == []


def test_stale_after_an_outside_edit_and_fresh_after_sync(liu_home: Path) -> None:
    lib = Library.open(liu_home)
    s = _add(lib, "a title", "original words", datetime(2026, 1, 1))
    path = lib.index.path_of(s.session_id)
    assert path is not None
    path.write_text(path.read_text().replace("original words", "edited elsewhere"))
    # The index still holds the old text until it looks at the files again...
    assert lib.index.search("edited") == []
    report = lib.index.sync()
    assert report.updated == 1
    assert lib.index.search("edited")[0].row.session_id == s.session_id
    assert lib.index.search("original") == []


def test_a_deleted_or_broken_index_is_rebuilt_from_the_files(liu_home: Path) -> None:
    lib = Library.open(liu_home)
    s = _add(lib, "kept", "words", datetime(2026, 1, 1))
    lib.close()
    db = liu_home / "index.sqlite3"
    db.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    assert Library.open(liu_home).index.recent()[0].session_id == s.session_id
    Library.open(liu_home).close()
    db.write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    assert Library.open(liu_home).index.recent()[0].session_id == s.session_id
    assert os.stat(db).st_mode & 0o777 == 0o600


def test_broken_files_do_not_hide_the_good_ones(liu_home: Path) -> None:
    lib = Library.open(liu_home)
    for i in range(30):
        _add(lib, f"good {i}", "text", datetime(2026, 1, 1, 0, i))
    for i in range(3):
        (lib.store.sessions_dir / f"broken-{i}.md").write_bytes(b"\x00\x01 not a session")
    lib.index.sync()
    assert lib.index.count() == 30
    assert [p.name for p, _ in lib.index.broken()] == ["broken-0.md", "broken-1.md", "broken-2.md"]
    assert "binary file" in lib.index.broken()[0][1]


def test_resolve_takes_any_unique_prefix(liu_home: Path) -> None:
    lib = Library.open(liu_home)
    a = Session(session_id="aaaa1111-0000-4000-8000-000000000000", title="a")
    b = Session(session_id="aaaa2222-0000-4000-8000-000000000000", title="b")
    lib.store.create(a)
    lib.store.create(b)
    assert lib.resolve("aaaa1").session_id == a.session_id
    with pytest.raises(LiuError, match="several sessions"):
        lib.resolve("aaaa")
    with pytest.raises(LiuError, match="no session"):
        lib.resolve("bbbb")


def _indexed(lib: Library) -> list[tuple[object, ...]]:
    """Every row and the words it is found by, without the row ids (a rebuild renumbers
    them). Whitespace is not compared: the file format may trim a message's last newline,
    which FTS's tokenizer never sees anyway."""
    rows = lib.index.db.execute(
        "SELECT f.path, f.size, f.session_id, f.title, f.created_at, f.updated_at, "
        "f.model_id, f.message_count, f.total_cost, f.unpriced, f.error, t.title, t.body "
        "FROM files f JOIN fts t ON t.rowid = f.id"
    ).fetchall()
    return sorted((*row[:-2], str(row[-2]).split(), str(row[-1]).split()) for row in rows)


def test_a_write_is_indexed_from_the_session_written_as_a_rebuild_would(
    liu_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui.core import fileformat
    from tui.core.session import Cost, Usage

    lib = Library.open(liu_home)
    prompt = "What is 流式输出?  \n\nTrailing spaces  "
    s = _add(lib, "流式 streaming", prompt, datetime(2026, 1, 1))

    def reply(session: Session) -> None:
        message = Message(Role.ASSISTANT, datetime(2026, 1, 1, 0, 1), "逐字 token by token.\n")
        message.usage = Usage(10, 20, 30)
        message.cost = Cost(0.0004, 0.0006, 0.001)
        session.messages.append(message)
        session.model_id = "lab:fake-model"

    parse = fileformat.parse_bytes
    monkeypatch.setattr(fileformat, "parse_bytes", None)  # a write is not read back
    lib.store.update(s.session_id, reply)
    monkeypatch.setattr(fileformat, "parse_bytes", parse)
    written = _indexed(lib)
    assert len(written) == 1 and written[0][7] == 2
    assert lib.index.search("逐字")[0].row.session_id == s.session_id
    lib.index.rebuild()  # from the files
    assert _indexed(lib) == written


@given(st.text(alphabet="ab 流式输出。ｱカ한글\n", max_size=40))
def test_split_cjk_spaces_every_cjk_character(text: str) -> None:
    from tui.core.index import _CJK, split_cjk

    assert split_cjk(text) == re.sub(f"([{_CJK}])", "\u200b\\1\u200b", text)
