"""`liu sessions list|search|show|rm|restore|reindex`: the store from the shell."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tui.core.display import format_cost, relative_time
from tui.core.errors import LiuError, SessionNotFound
from tui.core.library import Library
from tui.core.store import file_session_id

BOLD, RESET = "\x1b[1m", "\x1b[0m"


def register(sub: Any) -> None:
    p = sub.add_parser("sessions", help="list, search, show and remove sessions")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    ls = s.add_parser("list", help="sessions, newest first")
    ls.add_argument("--limit", type=int, default=None, help="at most N sessions")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(run=cmd_list)

    se = s.add_parser("search", help="search titles and message text")
    se.add_argument("query", nargs="+")
    se.add_argument("--limit", type=int, default=20)
    se.add_argument("--json", action="store_true")
    se.set_defaults(run=cmd_search)

    sh = s.add_parser("show", help="print a session's markdown")
    sh.add_argument("id")
    sh.set_defaults(run=cmd_show)

    rm = s.add_parser("rm", help="move a session to the trash")
    rm.add_argument("id")
    rm.set_defaults(run=cmd_rm)

    rs = s.add_parser("restore", help="bring a session back from the trash")
    rs.add_argument("id")
    rs.set_defaults(run=cmd_restore)

    ri = s.add_parser("reindex", help="rebuild the search index from the files")
    ri.set_defaults(run=cmd_reindex)


def _tty() -> bool:
    return sys.stdout.isatty()


def _report_broken(lib: Library) -> None:
    broken = lib.index.broken()
    if broken:
        print(
            f"liu: {len(broken)} session file(s) could not be read; first: {broken[0][1]}",
            file=sys.stderr,
        )


def cmd_list(args: argparse.Namespace) -> int:
    lib = Library.open()
    rows = lib.index.recent(limit=args.limit)
    if args.json:
        json.dump([r.to_json() for r in rows], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        for r in rows:
            cost = format_cost(r.total_cost) + ("+" if r.unpriced and r.total_cost else "")
            if r.unpriced and not r.total_cost:
                cost = "unpriced"
            print(
                f"{r.session_id[:8]}  {relative_time(r.updated_at):>10}  {r.model_id:<28.28}  "
                f"{cost:>10}  {r.title}"
            )
        if not rows:
            print("no sessions yet: start one with `liu` or `liu ask`", file=sys.stderr)
    _report_broken(lib)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    lib = Library.open()
    hits = lib.index.search(" ".join(args.query), limit=args.limit)
    if args.json:
        out = [{**h.row.to_json(), "snippet": h.plain_snippet(), "rank": h.rank} for h in hits]
        json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    on, off = (BOLD, RESET) if _tty() else ("", "")
    for h in hits:
        snippet = h.snippet.replace("\x02", on).replace("\x03", off)
        print(f"{h.row.session_id[:8]}  {relative_time(h.row.updated_at):>10}  {h.row.title}")
        print(f"          {snippet}")
    if not hits:
        print("no matches", file=sys.stderr)
        return 1
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    lib = Library.open()
    row = lib.resolve(args.id)
    result = lib.store.read(row.path)
    for p in result.problems:
        print(f"liu: {row.path}:{p.line}: {p.message}", file=sys.stderr)
    sys.stdout.write(row.path.read_text(encoding="utf-8"))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    lib = Library.open()
    row = lib.resolve(args.id)
    lib.store.trash(row.session_id)
    short = row.session_id[:8]
    print(f"moved to trash: {short} {row.title}  (undo: liu sessions restore {short})")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    lib = Library.open()
    prefix = args.id.strip().lower()
    matches = {
        sid
        for p in lib.store.trashed_files()
        if (sid := file_session_id(p)) and sid.startswith(prefix)
    }
    if not matches:
        raise SessionNotFound(f"no session {prefix} in the trash ({lib.store.trash_dir})")
    if len(matches) > 1:
        raise LiuError(
            f"{prefix} matches {len(matches)} sessions in the trash: give more of the id"
        )
    path = lib.store.restore(matches.pop())
    print(f"restored: {path.name}")
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    lib = Library(None)
    lib.index.delete()
    lib.store.ensure()
    report = lib.index.sync()
    print(f"indexed {lib.index.count()} sessions ({report.broken} unreadable)")
    for _path, error in lib.index.broken():
        print(f"liu: {error}", file=sys.stderr)
    return 0
