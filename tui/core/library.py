"""The store and its index opened together: what the CLI and the app work with."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tui import paths
from tui.core.index import SessionIndex, SessionRow, SyncReport
from tui.core.store import SessionStore

if TYPE_CHECKING:
    from tui.core.fileformat import ParseResult
    from tui.core.session import Session


class Library:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else paths.data_dir()
        self.store = SessionStore(self.root)
        self.index = SessionIndex(self.root / "index.sqlite3", self.store.sessions_dir)
        self.store.on_change.append(self._reindex)
        self.last_sync = SyncReport()

    def _reindex(self, path: Path, written: Session | None) -> None:
        self.index.refresh([path], {path: written} if written is not None else None)

    @classmethod
    def open(cls, root: Path | None = None) -> Library:
        """Create the folders, clean what a killed writer left, bring the index up to date."""
        lib = cls(root)
        lib.store.ensure()
        lib.last_sync = lib.index.sync()
        return lib

    def resolve(self, prefix: str) -> SessionRow:
        return self.index.resolve(prefix)

    def read(self, prefix: str) -> tuple[SessionRow, ParseResult]:
        row = self.resolve(prefix)
        return row, self.store.read(row.path)

    def close(self) -> None:
        self.index.close()
