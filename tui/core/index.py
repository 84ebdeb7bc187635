"""SQLite FTS5 index of the store: titles, message text and each session's figures.

A cache, nothing more: it is brought up to date from the files by (path, mtime, size), and a
deleted or broken index file is rebuilt. Chinese, Japanese and Korean have no spaces between
words, so their characters are indexed one token each and a query's CJK run becomes a phrase:
`流式输出` finds the seed session, and so does `流式`.

Every CLI command syncs first, so "nothing changed" must be cheap: the stat of every file is
the floor, and instead of loading every row to compare with, the sync compares the listing
(names, mtimes, sizes, packed) with the one stored when the index last matched the files.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sqlite3
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tui.core.errors import LiuError, SessionFileError

if TYPE_CHECKING:
    from tui.core.session import Session

SCHEMA_VERSION = 3
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\uff66-\uff9f"
# Files indexed per transaction: bounds the WAL during a big build (and a killed build keeps
# what it did), while a handful of changes still commit once.
_BATCH = 250
# After a checkpoint the WAL is cut back to this size instead of staying as big as its peak.
_WAL_LIMIT = 8 * 1024 * 1024
_STAT_DIR_FD = os.stat in os.supports_dir_fd
# A zero-width space is a separator to FTS5's unicode61 tokenizer, and invisible in snippets.
_ZWSP = "\u200b"
_MARK_OPEN, _MARK_CLOSE = "\x02", "\x03"

_SCHEMA = """
CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    path TEXT UNIQUE NOT NULL,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    session_id TEXT,
    title TEXT,
    created_at TEXT,
    updated_at TEXT,
    model_id TEXT,
    message_count INTEGER,
    total_cost REAL,
    unpriced INTEGER,
    error TEXT
);
CREATE INDEX files_updated ON files(updated_at DESC);
CREATE INDEX files_session ON files(session_id);
CREATE VIRTUAL TABLE fts USING fts5(
    title, body, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB);
"""
# meta 'listing': the packed listing of the files (see `_disk`), present only while the rows
# of `files` hold exactly those stamps. Every write to `files` clears it; only a sync that has
# checked the rows against the listing stores it again.


class AmbiguousId(LiuError):
    pass


@dataclass(frozen=True)
class SessionRow:
    session_id: str
    path: Path
    title: str
    created_at: datetime
    updated_at: datetime
    model_id: str
    message_count: int
    total_cost: float
    unpriced: int

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.session_id,
            "title": self.title,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "model": self.model_id,
            "messages": self.message_count,
            "total_cost": self.total_cost,
            "unpriced_replies": self.unpriced,
            "path": str(self.path),
        }


@dataclass(frozen=True)
class SearchHit:
    row: SessionRow
    snippet: str  # the matched words wrapped in \x02 ... \x03
    rank: float

    def plain_snippet(self) -> str:
        return self.snippet.replace(_MARK_OPEN, "").replace(_MARK_CLOSE, "")


@dataclass(frozen=True)
class SyncReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    broken: int = 0


@functools.cache
def _cjk_char() -> re.Pattern[str]:
    """Compiled on first use: it takes milliseconds, which `liu sessions list` need not pay."""
    return re.compile(f"([{_CJK}])")


@functools.cache
def _cjk_run() -> re.Pattern[str]:
    return re.compile(f"[{_CJK}]+")


def _spaced_run(match: re.Match[str]) -> str:
    return _ZWSP + (_ZWSP * 2).join(match.group()) + _ZWSP


def split_cjk(text: str) -> str:
    """One token per CJK character, so FTS5's word tokenizer can find runs of them.
    (Replaced a run at a time: half the time of a character at a time, on a long reply.)"""
    return _cjk_run().sub(_spaced_run, text)


def join_cjk(text: str) -> str:
    return text.replace(_ZWSP, "")


def fts_query(query: str) -> str:
    """Each word a prefix, each CJK run a phrase of its characters; all of them required."""
    terms = []
    cjk = _cjk_char()
    for word in query.split():
        parts = re.sub(r"\W", " ", cjk.sub(r" \1 ", word)).split()
        if not parts:
            continue
        prefix = "" if cjk.fullmatch(parts[-1]) else "*"
        terms.append('"' + " ".join(parts) + '"' + prefix)
    if not terms:
        raise LiuError(f"nothing to search for in {query!r}: give a word")
    return " AND ".join(terms)


class SessionIndex:
    def __init__(self, db_path: Path, sessions_dir: Path) -> None:
        self.db_path = db_path
        self.sessions_dir = sessions_dir
        self._db: sqlite3.Connection | None = None

    # ------------------------------------------------------------ connection

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError:
            # A cache: a broken one is thrown away and rebuilt from the files.
            self._remove_files()
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        self.db_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.db_path.exists():
            fd = os.open(self.db_path, os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
        db = sqlite3.connect(self.db_path, timeout=10.0, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT}")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                db.execute("BEGIN IMMEDIATE")
                db.execute("DROP TABLE IF EXISTS files")
                db.execute("DROP TABLE IF EXISTS fts")
                db.execute("DROP TABLE IF EXISTS meta")
                db.executescript(
                    "BEGIN;" + _SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION};COMMIT;"
                )
            db.execute("SELECT count(*) FROM files").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    def _remove_files(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.db_path}{suffix}")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def delete(self) -> None:
        self.close()
        self._remove_files()

    # ------------------------------------------------------------ keeping fresh

    def _disk(self) -> tuple[str, list[str], array[int]]:
        """The session files' names and their (mtime_ns, size), flat, in listing order.

        A stat per file is what noticing an outside edit costs; made relative to the open
        folder it skips the walk down the folder's path each time.
        """
        folder = str(self.sessions_dir)
        prefix = folder if folder.endswith(os.sep) else folder + os.sep
        names: list[str] = []
        stamps: array[int] = array("q")
        try:
            listed = os.listdir(folder)
            dir_fd = os.open(folder, os.O_RDONLY) if _STAT_DIR_FD else None
        except FileNotFoundError:
            return prefix, names, stamps
        try:
            for name in listed:
                if name.endswith(".md") and not name.startswith("."):
                    try:
                        if dir_fd is None:
                            st = os.stat(prefix + name)
                        else:
                            st = os.stat(name, dir_fd=dir_fd)
                    except FileNotFoundError:
                        continue
                    names.append(name)
                    stamps.append(st.st_mtime_ns)
                    stamps.append(st.st_size)
        finally:
            if dir_fd is not None:
                os.close(dir_fd)
        return prefix, names, stamps

    @staticmethod
    def _pack(prefix: str, names: list[str], stamps: array[int]) -> bytes:
        """The listing as one value: equal bytes, equal listing (names never hold NUL)."""
        text = prefix + "\0" + "\0".join(names) + "\0\0"
        return text.encode("utf-8", "surrogateescape") + stamps.tobytes()

    def _known(self) -> dict[str, tuple[int, int, int]]:
        return {
            path: (rid, mtime, size)
            for rid, path, mtime, size in self.db.execute(
                "SELECT id, path, mtime_ns, size FROM files"
            )
        }

    def _data_version(self) -> int:
        """Changes when another connection commits (see SQLite's PRAGMA data_version)."""
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    def sync(self) -> SyncReport:
        """Bring the index up to date with the files: only changed ones are read."""
        prefix, names, stamps = self._disk()
        packed = self._pack(prefix, names, stamps)
        row = self.db.execute("SELECT value FROM meta WHERE key = 'listing'").fetchone()
        if row is not None and row[0] == packed:
            return SyncReport()  # the rows hold exactly these stamps: nothing to read
        disk = {prefix + n: (stamps[2 * i], stamps[2 * i + 1]) for i, n in enumerate(names)}
        version = self._data_version()
        known = self._known()
        changed = [p for p, stamp in disk.items() if known.get(p, (0, -1, -1))[1:] != stamp]
        gone = [p for p in known if p not in disk]
        if not changed and not gone:
            self._store_listing(disk, packed, version)
            return SyncReport()
        added = sum(1 for p in changed if p not in known)
        broken = 0
        batches = [changed[i : i + _BATCH] for i in range(0, len(changed), _BATCH)] or [[]]
        for n, batch in enumerate(batches):
            with self._transaction():
                self._clear_listing()
                if n == 0:
                    for p in gone:
                        self._drop_path(p)
                for p in batch:
                    if not self._index_path(p, disk[p]):
                        broken += 1
        self._store_listing(disk, packed, version, changed)
        return SyncReport(
            added=added, updated=len(changed) - added, removed=len(gone), broken=broken
        )

    def _store_listing(
        self,
        disk: dict[str, tuple[int, int]],
        packed: bytes,
        version: int,
        written: Iterable[str] = (),
    ) -> None:
        """Remember the listing, once the rows are known to hold exactly its stamps.

        `version` is the data version at which the rows were read and found equal to `disk`
        but for the paths this sync then `written`. If no other connection has committed
        since, only those rows need checking (a file may have changed again while it was
        read); else all are read again. Only an optimisation, so a read-only or busy index
        file is no error here.
        """
        with contextlib.suppress(sqlite3.OperationalError), self._transaction():
            if self._data_version() != version:
                rows = self.db.execute("SELECT path, mtime_ns, size FROM files")
                if {p: (m, s) for p, m, s in rows} != disk:
                    return  # changed under us: the next sync compares row by row
            else:
                for p in written:
                    row = self.db.execute(
                        "SELECT mtime_ns, size FROM files WHERE path = ?", (p,)
                    ).fetchone()
                    if row is None or (row[0], row[1]) != disk[p]:
                        return
            self.db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('listing', ?)", (packed,)
            )

    def _clear_listing(self) -> None:
        self.db.execute("DELETE FROM meta WHERE key = 'listing'")

    def _drop_path(self, path: str) -> None:
        row = self.db.execute("SELECT id FROM files WHERE path = ?", (path,)).fetchone()
        if row is not None:
            self._drop(row[0])

    def _index_path(self, path: str, stamp: tuple[int, int]) -> bool:
        """Index one changed file, looking its row up afresh: another liu may have done it."""
        row = self.db.execute(
            "SELECT id, mtime_ns, size, error FROM files WHERE path = ?", (path,)
        ).fetchone()
        if row is not None and (row[1], row[2]) == stamp:
            return row[3] is None
        return self._index_file(Path(path), row[0] if row else None)

    def refresh(
        self, paths: Iterable[Path], written: Mapping[Path, Session] | None = None
    ) -> None:
        """After our own writes: re-index these paths (gone ones are dropped). A session
        in `written` (what was just written to its path) is not read back and parsed."""
        with self._transaction():
            self._clear_listing()
            for path in paths:
                row = self.db.execute(
                    "SELECT id FROM files WHERE path = ?", (str(path),)
                ).fetchone()
                if path.exists():
                    self._index_file(path, row[0] if row else None, (written or {}).get(path))
                elif row:
                    self._drop(row[0])

    def rebuild(self) -> SyncReport:
        with self._transaction():
            self._clear_listing()
            self.db.execute("DELETE FROM files")
            self.db.execute("DELETE FROM fts")
        return self.sync()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _drop(self, rid: int) -> None:
        self.db.execute("DELETE FROM files WHERE id = ?", (rid,))
        self.db.execute("DELETE FROM fts WHERE rowid = ?", (rid,))

    def _index_file(self, path: Path, rid: int | None, written: Session | None = None) -> bool:
        try:
            st = path.stat()
            data = b"" if written is not None else path.read_bytes()
        except FileNotFoundError:
            if rid is not None:
                self._drop(rid)
            return True
        error: str | None = None
        session: Session | None = written
        if session is None:
            from tui.core import fileformat  # not needed by a sync that finds nothing new

            try:
                session = fileformat.parse_bytes(data, str(path)).session
            except SessionFileError as e:
                error = str(e)
        if rid is not None:
            self.db.execute("DELETE FROM fts WHERE rowid = ?", (rid,))
        values: tuple[object, ...]
        if session is None:
            values = (
                str(path),
                st.st_mtime_ns,
                st.st_size,
                None,
                None,
                None,
                None,
                None,
                0,
                0.0,
                0,
                error,
            )
        else:
            totals = session.totals()
            values = (
                str(path),
                st.st_mtime_ns,
                st.st_size,
                session.session_id,
                session.title or session.default_title(),
                session.created_at.isoformat(),
                session.updated_at.isoformat(),
                session.model_id,
                len(session.messages),
                totals.cost,
                totals.unpriced_replies,
                None,
            )
        if rid is None:
            cur = self.db.execute(
                "INSERT INTO files (path, mtime_ns, size, session_id, title, created_at, "
                "updated_at, model_id, message_count, total_cost, unpriced, error) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                values,
            )
            rid = cur.lastrowid
        else:
            self.db.execute(
                "UPDATE files SET path=?, mtime_ns=?, size=?, session_id=?, title=?, created_at=?, "
                "updated_at=?, model_id=?, message_count=?, total_cost=?, unpriced=?, error=? "
                "WHERE id=?",
                (*values, rid),
            )
        if session is not None:
            body = "\n\n".join(m.text for m in session.messages)
            self.db.execute(
                "INSERT INTO fts (rowid, title, body) VALUES (?, ?, ?)",
                (rid, split_cjk(session.title), split_cjk(body)),
            )
        return session is not None

    # ------------------------------------------------------------ queries

    _ROW = (
        "f.session_id, f.path, f.title, f.created_at, f.updated_at, f.model_id, "
        "f.message_count, f.total_cost, f.unpriced"
    )

    @staticmethod
    def _row(r: tuple[object, ...]) -> SessionRow:
        return SessionRow(
            session_id=str(r[0]),
            path=Path(str(r[1])),
            title=str(r[2] or ""),
            created_at=datetime.fromisoformat(str(r[3])),
            updated_at=datetime.fromisoformat(str(r[4])),
            model_id=str(r[5] or ""),
            message_count=int(r[6] or 0),  # type: ignore[call-overload]
            total_cost=float(r[7] or 0.0),  # type: ignore[arg-type]
            unpriced=int(r[8] or 0),  # type: ignore[call-overload]
        )

    def recent(self, limit: int | None = None, offset: int = 0) -> list[SessionRow]:
        """Newest first (by the last message's time)."""
        sql = (
            f"SELECT {self._ROW} FROM files f WHERE f.error IS NULL "
            "ORDER BY f.updated_at DESC, f.path LIMIT ? OFFSET ?"
        )
        rows = self.db.execute(sql, (-1 if limit is None else limit, offset))
        return [self._row(r) for r in rows]

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM files WHERE error IS NULL").fetchone()[0])

    def broken(self) -> list[tuple[Path, str]]:
        rows = self.db.execute(
            "SELECT path, error FROM files WHERE error IS NOT NULL ORDER BY path"
        )
        return [(Path(p), str(e)) for p, e in rows]

    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Ranked by bm25, a title match weighing ten times a body match.

        Ordered by FTS5's own `rank`, so the snippet is made only for the rows returned:
        sorting on a bm25() column took twice as long at 10,000 sessions, most of it snippets.
        """
        sql = (
            f"SELECT {self._ROW}, snippet(fts, -1, ?, ?, '…', 24), rank "
            "FROM fts CROSS JOIN files f ON f.id = fts.rowid "
            "WHERE fts MATCH ? AND rank MATCH 'bm25(10.0, 1.0)' ORDER BY rank LIMIT ?"
        )
        rows = self.db.execute(sql, (_MARK_OPEN, _MARK_CLOSE, fts_query(query), limit))
        return [
            SearchHit(self._row(r[:9]), " ".join(join_cjk(str(r[9])).split()), float(r[10]))
            for r in rows
        ]

    def resolve(self, prefix: str) -> SessionRow:
        """A session id from any unique prefix of it."""
        prefix = prefix.strip().lower()
        if not re.fullmatch(r"[0-9a-f-]+", prefix):
            raise LiuError(
                f"{prefix!r} is not a session id (hex digits, as `liu sessions list` shows)"
            )
        rows = self.db.execute(
            f"SELECT {self._ROW} FROM files f WHERE f.session_id LIKE ? || '%' AND f.error IS NULL "
            "ORDER BY f.updated_at DESC LIMIT 6",
            (prefix,),
        ).fetchall()
        if not rows:
            raise LiuError(f"no session {prefix}: see `liu sessions list`")
        if len(rows) > 1:
            ids = ", ".join(str(r[0])[:12] for r in rows[:5])
            raise AmbiguousId(f"{prefix} matches several sessions ({ids}...): give more of the id")
        return self._row(rows[0])

    def path_of(self, session_id: str) -> Path | None:
        row = self.db.execute(
            "SELECT path FROM files WHERE session_id = ? AND error IS NULL", (session_id,)
        ).fetchone()
        return Path(row[0]) if row else None
