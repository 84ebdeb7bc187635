"""SessionStore: one markdown file per session, written atomically under a per-session lock.

Every change goes through `update`, which takes the session's lock, re-reads the file when
someone else (an editor, `git pull`, another liu) changed it since we last saw it, applies
the change and renames a fully written temporary file over the old one. So two processes
never interleave writes, and an outside edit is merged into, never overwritten blindly.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tui import paths
from tui.core.errors import SessionBusy, SessionFileError, SessionNotFound

if TYPE_CHECKING:  # the format (and PyYAML) load when a file is first read or written
    from tui.core.fileformat import ParseResult
    from tui.core.session import Session

LOCK_WAIT_SECONDS = 10.0
_TMP = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.(?P<n>\d+)\.tmp")
_FRONT_ID = re.compile(r"^session_id:\s*['\"]?([^'\"\s]+)", re.MULTILINE)

Notify = bool | Literal["later"]
"""Whether a write calls the store's `on_change` hooks: now, not at all, or at `announce()`."""


@dataclass(frozen=True)
class FileStamp:
    """What tells us a file changed without reading it."""

    mtime_ns: int
    size: int
    ino: int

    @classmethod
    def of(cls, path: Path) -> FileStamp:
        st = path.stat()
        return cls(st.st_mtime_ns, st.st_size, st.st_ino)


def slug(title: str, limit: int = 40) -> str:
    """A file-name-safe rendering of a title; letters of any script are kept."""
    words = re.findall(r"\w+", title.lower())
    out = "-".join(words)[:limit].strip("-_")
    return out or "session"


def write_atomic(path: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename: a reader sees the old or the new file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SessionStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else paths.data_dir()
        self.sessions_dir = self.root / "sessions"
        self.trash_dir = self.root / "trash"
        self.locks_dir = self.root / "locks"
        self._cache: dict[Path, tuple[FileStamp, Session]] = {}
        self._unannounced: dict[Path, Session] = {}  # written with notify="later"
        self._ready = False
        # Called with each path written (and the session written to it), trashed or
        # restored (the index keeps itself fresh).
        self.on_change: list[Callable[[Path, Session | None], None]] = []

    def _changed(self, path: Path, written: Session | None = None) -> None:
        for hook in self.on_change:
            hook(path, written)

    # ------------------------------------------------------------ folders

    def ensure(self) -> SessionStore:
        """Create the folders (0700) and remove temporary files left by a killed writer."""
        if self._ready:
            return self
        for d in (self.root, self.sessions_dir, self.trash_dir, self.locks_dir):
            paths.ensure_private_dir(d)
        self.clean_stale_temps()
        self._ready = True
        return self

    def clean_stale_temps(self) -> int:
        removed = 0
        for folder in (self.sessions_dir, self.trash_dir):
            with contextlib.suppress(FileNotFoundError):
                for entry in os.scandir(folder):
                    m = _TMP.fullmatch(entry.name)
                    if m and not _pid_alive(int(m.group("pid"))):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(entry.path)
                            removed += 1
        return removed

    def session_files(self) -> list[Path]:
        try:
            names = os.listdir(self.sessions_dir)
        except FileNotFoundError:
            return []
        return [self.sessions_dir / n for n in names if n.endswith(".md") and not n.startswith(".")]

    # ------------------------------------------------------------ reading

    def read(self, path: Path) -> ParseResult:
        """Parse a file; SessionFileError names it when it cannot be read."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise SessionNotFound(f"{path}: no such session file") from None
        except OSError as e:
            raise SessionFileError(str(path), f"cannot read: {e.strerror}") from None
        from tui.core import fileformat

        return fileformat.parse_bytes(data, str(path))

    def load(self, path: Path) -> Session:
        stamp = FileStamp.of(path)
        cached = self._cache.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        session = self.read(path).session
        self._cache[path] = (stamp, session)
        return session

    def find(self, session_id: str, folder: Path | None = None, scan: bool = True) -> Path | None:
        """The file holding this session id: by the name we gave it first, else by a scan.

        The scan reads the head of every file, so callers that expect the id to be new
        (creating a session) pass `scan=False`; the index answers id look-ups in bulk.
        """
        folder = folder or self.sessions_dir
        try:
            names = [n for n in os.listdir(folder) if n.endswith(".md") and not n.startswith(".")]
        except FileNotFoundError:
            return None
        short = session_id[:8]
        likely = [n for n in names if n.endswith(f"-{short}.md") or n == f"{session_id}.md"]
        rest = [n for n in names if n not in likely] if scan else []
        for name in likely + rest:
            if file_session_id(folder / name) == session_id:
                return folder / name
        return None

    # ------------------------------------------------------------ locking

    @contextlib.contextmanager
    def lock(self, session_id: str, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
        """Exclusive across processes, held only while a file is read and rewritten."""
        self.ensure()
        fd = os.open(self.locks_dir / f"{session_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as e:
                    if e.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= deadline:
                        raise SessionBusy(
                            f"session {session_id[:8]} is being written by another liu; "
                            "try again in a moment"
                        ) from None
                    time.sleep(0.01)
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def reply_lock(self, session_id: str) -> Iterator[None]:
        """Held while a reply streams, so two liu processes never stream into one session."""
        self.ensure()
        path = self.locks_dir / f"{session_id}.reply"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                raise SessionBusy(
                    f"session {session_id[:8]} is busy: another liu (pid {holder}) is writing a "
                    "reply into it"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)

    # ------------------------------------------------------------ writing

    def new_path(self, session: Session) -> Path:
        name = f"{session.created_at:%Y-%m-%d}-{slug(session.title)}-{session.session_id[:8]}.md"
        return self.sessions_dir / name

    def _write(self, path: Path, session: Session, *, notify: Notify = True) -> None:
        from tui.core import fileformat

        write_atomic(path, fileformat.write(session).encode("utf-8"))
        self._cache[path] = (FileStamp.of(path), session)
        self._unannounced.pop(path, None)
        if notify == "later":
            self._unannounced[path] = session
        elif notify:
            self._changed(path, session)

    def announce(self) -> None:
        """Call the `on_change` hooks for the writes made with `notify="later"`."""
        waiting, self._unannounced = self._unannounced, {}
        for path, session in waiting.items():
            self._changed(path, session)

    def create(self, session: Session) -> Path:
        """Write a new session; refuses an id the store already has."""
        self.ensure()
        with self.lock(session.session_id):
            path = self.new_path(session)
            if path.exists() or self.find(session.session_id, scan=False) is not None:
                raise SessionFileError(str(path), "a session with this id already exists")
            self._write(path, session)
            return path

    def update(
        self, session_id: str, change: Callable[[Session], None], *, notify: Notify = True
    ) -> Session:
        """Lock, re-read if changed on disk, apply `change`, write atomically.

        The returned session is the store's cached copy: treat it as read-only.
        `notify=False` (a streaming reply's checkpoints) skips the `on_change` hooks: the
        index re-reads the file when the reply is saved for good, or at the next sync
        (it notices the changed size and time) if the writer was killed. `notify="later"`
        holds them until `announce()` (the app shows a finished reply before it re-indexes
        the session: 13 ms for a 100k-token reply).
        """
        self.ensure()
        with self.lock(session_id):
            path = self.find(session_id)
            if path is None:
                raise SessionNotFound(f"no session {session_id}")
            session = self.load(path)
            try:
                change(session)
                self._write(path, session, notify=notify)
            except BaseException:
                self._cache.pop(path, None)  # the in-memory copy may be half-changed
                raise
            return session

    def replace(self, session: Session, path: Path | None = None) -> Path:
        """Write a whole session over the one with its id (import --force), or create it."""
        self.ensure()
        with self.lock(session.session_id):
            path = path or self.find(session.session_id) or self.new_path(session)
            self._write(path, session)
            return path

    # ------------------------------------------------------------ trash

    def trash(self, session_id: str) -> Path:
        """Move to the trash folder: recoverable with `restore`."""
        self.ensure()
        with self.lock(session_id):
            path = self.find(session_id)
            if path is None:
                raise SessionNotFound(f"no session {session_id}")
            target = self.trash_dir / path.name
            os.replace(path, target)
            self._cache.pop(path, None)
            self._changed(path)
            return target

    def restore(self, session_id: str) -> Path:
        self.ensure()
        with self.lock(session_id):
            src = self.find(session_id, self.trash_dir)
            if src is None:
                raise SessionNotFound(f"no session {session_id} in the trash")
            if self.find(session_id) is not None:
                raise SessionFileError(str(src), "a session with this id is already in the store")
            target = self.sessions_dir / src.name
            os.replace(src, target)
            self._changed(target)
            return target

    def trashed_files(self) -> list[Path]:
        try:
            return [self.trash_dir / n for n in os.listdir(self.trash_dir) if n.endswith(".md")]
        except FileNotFoundError:
            return []


def file_session_id(path: Path) -> str | None:
    """The session_id from a file's front matter, read without parsing the whole file."""
    try:
        with path.open("rb") as f:
            head = f.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return None
    end = head.find("\n---", 3)
    m = _FRONT_ID.search(head if end < 0 else head[:end])
    return m.group(1) if m else None
