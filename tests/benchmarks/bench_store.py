"""Benchmark of the session store and its SQLite FTS5 index at a realistic size.

    .venv/bin/python tests/benchmarks/bench_store.py [--sessions N] [--keep DIR]

Generates N (default 10,000) sessions of about 10 KB of mixed markdown each (a fixed seed, so
every run indexes the same text) under /tmp, then measures in one run: the cold index build,
`sessions list --limit 50` and `sessions search` against a warm index, each beside a plain
scan of the files, the whole `python -m tui sessions ...` command, and the re-index after 10
files changed. Prints a markdown table. Not part of the test run (it takes minutes, not
seconds); the files stay in the page cache, so the plain scans are their best case.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tui.core import fileformat  # noqa: E402
from tui.core.library import Library  # noqa: E402
from tui.core.session import Cost, Message, Role, Session, Usage  # noqa: E402
from tui.core.store import SessionStore  # noqa: E402

SEED = 20260131
TARGET_BYTES = 10_000

# ---------------------------------------------------------------- the text


def _words(text: str) -> list[str]:
    return text.split()


# Ordered from common to rare: word frequencies follow Zipf's law over this list, then over a
# long tail of made-up words, so queries hit anything from nearly every session to a few.
_COMMON = _words(
    """
the a to of and is in it you that for this with on be can use are as not or if your by from
an at have will which when but so all more we one like here data code function file value
need also then time example way any only each new set error first return two call python
list type used into run should make other output line model using name server request test
class object method string number key case result state async default memory stream change
read write query user message response config text index step cache thread version process
simple build path check update http client events handle loop table start
"""
)
_MEDIUM = _words(
    """
database performance timeout parser token retry backoff json yaml markdown terminal schema
deploy container kubernetes docker latency throughput concurrency websocket header payload
lambda closure generator iterator decorator coroutine await future promise channel mutex
socket buffer encoding unicode regex pattern tokenizer embedding vector cosine similarity
gradient tensor batch epoch optimizer dataframe pandas numpy matrix sqlite postgres redis
migration transaction rollback commit branch merge rebase webhook oauth certificate proxy
firewall upstream downstream pipeline scheduler cron daemon systemd journal logging metric
histogram percentile benchmark profiler flamegraph allocation garbage collector refcount
fibonacci recursion memoization dynamic programming binary heap sorting quicksort hashmap
deployment leak rate limit status
"""
)
# Planted by hand at a known rate (share of sessions), for the rare-term queries.
_RARE = {"quokka": 0.001, "zeppelin": 0.005, "fts5": 0.01, "bm25": 0.01, "429": 0.02}
_CJK_WORDS = _words(
    """
流式输出 数据库 向量检索 性能优化 异步编程 错误处理 机器学习 缓存 并发 部署
容器 接口 模型 参数 函数 变量 索引 查询 事务 日志
配置 服务器 客户端 请求 响应 超时 重试 编码 解析 测试
"""
)
_CJK_GLUE = ["的", "是", "和", "在", "可以", "需要", "使用", "通过", "对于", "如果", "因为", "所以"]
_LANGS = ["python", "rust", "go", "typescript", "bash", "sql", "java", "c"]
_MODELS = [
    "openai:gpt-4o",
    "openai:gpt-4o-mini",
    "anthropic:claude-sonnet-4-5",
    "deepseek:deepseek-chat",
    "gemini:gemini-2.5-flash",
    "ollama:llama3.2",
]
_QUESTIONS = [
    "How do I {a} the {b} in {lang}?",
    "Why is my {a} {b} so slow?",
    "Explain {a} vs {b}",
    "{lang}: {a} {b} keeps failing with a timeout",
    "Best way to {a} a {b}?",
    "{cjk}是什么意思?",
    "如何在{lang}中实现{cjk}?",
    "Review this {b} {a} code",
]

QUERIES = [
    "python",
    "error",
    "function return",
    "database index",
    "async await",
    "stream events",
    "memory leak",
    "kubernetes deployment",
    "流式输出",
    "数据库",
    "向量检索",
    "性能优化",
    "quokka",
    "zeppelin",
    "fibonacci memoization",
    "pandas dataframe",
    "http 429",
    "retry backoff",
    "tokenizer",
    "sqlite fts5",
]


class TextMaker:
    """Fresh Zipf-distributed text for every session, fast enough for 100 MB."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        syllables = ["ka", "lo", "ri", "ven", "tor", "mi", "sa", "dex", "qu", "pel", "zan", "or"]
        tail = sorted({"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(4000)})
        rng.shuffle(tail)
        words = _COMMON + _MEDIUM + tail
        self.words = words
        # Zipf: weight 1/rank.
        self.cum = list(_accumulate([1.0 / (i + 1) for i in range(len(words))]))

    def words_(self, n: int) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cum, k=n)

    def sentence(self) -> str:
        w = self.words_(self.rng.randint(6, 18))
        w[0] = w[0].capitalize()
        return " ".join(w) + self.rng.choice([".", ".", ".", "?", "!"])

    def cjk_sentence(self) -> str:
        rng = self.rng
        parts = [rng.choice(_CJK_WORDS) + rng.choice(_CJK_GLUE) for _ in range(rng.randint(3, 8))]
        return "".join(parts) + rng.choice(_CJK_WORDS) + "。"

    def paragraph(self) -> str:
        n = self.rng.randint(2, 6)
        if self.rng.random() < 0.15:
            return "".join(self.cjk_sentence() for _ in range(n))
        return " ".join(self.sentence() for _ in range(n))

    def block(self) -> str:
        r = self.rng.random()
        if r < 0.45:
            return self.paragraph()
        if r < 0.6:
            return self._list()
        if r < 0.8:
            return self._code()
        if r < 0.9:
            return self._table()
        return f"### {self.sentence().rstrip('.?!')}"

    def _list(self) -> str:
        ordered = self.rng.random() < 0.4
        items = []
        for i in range(self.rng.randint(3, 7)):
            mark = f"{i + 1}." if ordered else "-"
            w = self.words_(self.rng.randint(3, 10))
            items.append(f"{mark} **{w[0]}**: {' '.join(w[1:])}")
        return "\n".join(items)

    def _code(self) -> str:
        lang = self.rng.choice(_LANGS)
        lines = []
        for _ in range(self.rng.randint(4, 14)):
            w = self.words_(4)
            indent = "    " * self.rng.randint(0, 2)
            lines.append(f"{indent}{w[0]}_{w[1]} = {w[2]}({w[3]!r}, {self.rng.randint(0, 999)})")
        return f"```{lang}\n" + "\n".join(lines) + "\n```"

    def _table(self) -> str:
        cols = self.rng.randint(2, 4)
        head = self.words_(cols)
        rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * cols]
        for _ in range(self.rng.randint(2, 5)):
            cells = [" ".join(self.words_(self.rng.randint(1, 3))) for _ in range(cols)]
            rows.append("| " + " | ".join(cells) + " |")
        return "\n".join(rows)

    def text(self, size: int) -> str:
        blocks: list[str] = []
        n = 0
        while n < size:
            b = self.block()
            blocks.append(b)
            n += len(b.encode()) + 2
        return "\n\n".join(blocks)

    def title(self) -> str:
        w = self.words_(2)
        return self.rng.choice(_QUESTIONS).format(
            a=w[0], b=w[1], lang=self.rng.choice(_LANGS), cjk=self.rng.choice(_CJK_WORDS)
        )


def _accumulate(values: Sequence[float]) -> list[float]:
    out, total = [], 0.0
    for v in values:
        total += v
        out.append(total)
    return out


def make_session(tm: TextMaker, rng: random.Random) -> Session:
    """Several exchanges adding up to about TARGET_BYTES; most replies priced, some not."""
    created = datetime(2024, 1, 1) + timedelta(seconds=rng.randint(0, 2 * 365 * 86400))
    title = tm.title()
    model = rng.choice(_MODELS)
    exchanges = rng.randint(2, 5)
    budget = TARGET_BYTES - 2000  # front matter, headings and trailers
    when = created
    messages: list[Message] = []
    for i in range(exchanges):
        ask = title if i == 0 else tm.paragraph()
        if rng.random() < 0.2:
            ask += "\n\n" + tm._code()
        messages.append(Message(Role.USER, when, ask))
        when += timedelta(seconds=rng.randint(5, 90))
        reply = tm.text(max(200, budget // exchanges - len(ask.encode())))
        prompt, completion = rng.randint(100, 8000), rng.randint(50, 3000)
        priced = rng.random() < 0.9
        messages.append(
            Message(
                Role.ASSISTANT,
                when,
                reply,
                usage=Usage(prompt, completion, prompt + completion, rng.choice([None, 0, 120])),
                cost=Cost(prompt * 2.5e-6, completion * 1e-5, prompt * 2.5e-6 + completion * 1e-5)
                if priced
                else None,
                model=rng.choice(_MODELS) if rng.random() < 0.1 else None,
            )
        )
        when += timedelta(minutes=rng.randint(1, 600))
    for word, share in _RARE.items():
        if rng.random() < share:
            m = rng.choice(messages)
            m.text += f"\n\nSee {word} {tm.sentence().lower()}"
    return Session(title=title, created_at=created, model_id=model, messages=messages)


def generate(root: Path, n: int) -> tuple[int, float]:
    """Write n session files with the real writer (plain writes: fsync is not measured here)."""
    rng = random.Random(SEED)
    tm = TextMaker(rng)
    store = SessionStore(root)
    store.ensure()
    total = 0
    t0 = time.perf_counter()
    for _ in range(n):
        s = make_session(tm, rng)
        s.session_id = "%08x-%04x-4%03x-a%03x-%012x" % (  # noqa: UP031 - a seeded uuid4 shape
            rng.getrandbits(32),
            rng.getrandbits(16),
            rng.getrandbits(12),
            rng.getrandbits(12),
            rng.getrandbits(48),
        )
        data = fileformat.write(s).encode("utf-8")
        store.new_path(s).write_bytes(data)
        total += len(data)
    return total, time.perf_counter() - t0


# ---------------------------------------------------------------- measuring


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: p95 of 20 samples is the 19th, an actual measurement."""
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def ms(v: float) -> str:
    return f"{v:,.1f} ms" if v < 10_000 else f"{v / 1000:,.1f} s"


def scan_list(sessions_dir: Path) -> list[tuple[datetime, str]]:
    """What `list` would cost without the index: read and parse every file."""
    rows = []
    for p in sessions_dir.glob("*.md"):
        s = fileformat.parse_bytes(p.read_bytes(), str(p)).session
        rows.append((s.updated_at, s.title))
    rows.sort(reverse=True)
    return rows[:50]


def scan_search(sessions_dir: Path, query: str) -> int:
    """What `search` would cost without the index: read every file, substring-match the words."""
    words = [w.lower() for w in query.split()]
    hits = 0
    for p in sessions_dir.glob("*.md"):
        text = p.read_text(encoding="utf-8").lower()
        if all(w in text for w in words):
            hits += 1
    return hits


def run_cli(root: Path, args: list[str]) -> float:
    env = {**os.environ, "LIU_HOME": str(root)}
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    elapsed = (time.perf_counter() - t0) * 1000
    if r.returncode not in (0, 1):
        raise SystemExit(f"{args}: exit {r.returncode}: {r.stderr.decode()[-500:]}")
    return elapsed


def index_size(root: Path) -> tuple[int, int]:
    db = root / "index.sqlite3"
    wal = Path(f"{db}-wal")
    return db.stat().st_size, wal.stat().st_size if wal.exists() else 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=10_000, help="how many sessions (10,000)")
    ap.add_argument(
        "--keep",
        type=Path,
        help="generate into DIR and leave it there (reused when it already holds N sessions)",
    )
    ap.add_argument("--scan-runs", type=int, default=3, help="runs of the plain list scan (3)")
    args = ap.parse_args(argv)
    n: int = args.sessions

    root = args.keep or Path(tempfile.mkdtemp(prefix="liu-bench-", dir="/tmp"))
    root.mkdir(parents=True, exist_ok=True)
    sessions_dir = root / "sessions"
    rows: list[tuple[str, str, str, str]] = []  # what, median, p95, note
    try:
        have = len(list(sessions_dir.glob("*.md"))) if sessions_dir.exists() else 0
        if have == n:
            print(f"reusing {n} sessions in {sessions_dir}", file=sys.stderr)
        else:
            if sessions_dir.exists():
                shutil.rmtree(sessions_dir)
            print(f"generating {n} sessions in {sessions_dir} ...", file=sys.stderr)
            total, secs = generate(root, n)
            print(f"  {total / 1e6:.1f} MB in {secs:.1f} s", file=sys.stderr)
        size = sum(p.stat().st_size for p in sessions_dir.glob("*.md"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{root / 'index.sqlite3'}{suffix}").unlink(missing_ok=True)

        # -- cold build
        print("cold index build ...", file=sys.stderr)
        t0 = time.perf_counter()
        lib = Library.open(root)
        cold = (time.perf_counter() - t0) * 1000
        assert lib.last_sync.added == n, lib.last_sync
        db_size, wal_size = index_size(root)
        rows.append(("cold index build (Library.open, fresh index)", ms(cold), "", f"{n} files"))

        # -- list, warm
        print("list ...", file=sys.stderr)
        runs = 20
        sync_t = timed(lib.index.sync, runs)
        recent_t = timed(lambda: lib.index.recent(50), runs)

        def sync_recent() -> None:
            lib.index.sync()
            lib.index.recent(50)

        both_t = timed(sync_recent, runs)

        def open_recent() -> None:
            fresh = Library.open(root)
            fresh.index.recent(50)
            fresh.close()

        open_t = timed(open_recent, runs)
        scan_t = timed(lambda: scan_list(sessions_dir), args.scan_runs)
        for what, t in (
            ("`index.sync()` (no changes: stat every file)", sync_t),
            ("`index.recent(50)`", recent_t),
            ("`sync()` + `recent(50)`", both_t),
            ("`Library.open()` + `recent(50)` (all a CLI `list` does)", open_t),
        ):
            rows.append((what, ms(statistics.median(t)), ms(pct(t, 0.95)), f"{len(t)} runs"))
        scan_med = statistics.median(scan_t)
        rows.append(
            (
                "plain scan for list (read + parse every file)",
                ms(scan_med),
                "",
                f"{len(scan_t)} runs; {scan_med / statistics.median(both_t):,.0f}x sync+recent",
            )
        )

        # -- search, warm
        print("search ...", file=sys.stderr)
        per_query: dict[str, float] = {}
        search_all: list[float] = []
        hits: dict[str, int] = {}
        for q in QUERIES:
            hits[q] = len(lib.index.search(q, limit=20))
            t = timed(lambda q=q: lib.index.search(q, limit=20), 5)  # type: ignore[misc]
            per_query[q] = statistics.median(t)
            search_all.extend(t)
        sync_search = [
            a + b
            for a, b in zip(
                timed(lib.index.sync, len(QUERIES)), list(per_query.values()), strict=True
            )
        ]
        scan_q: dict[str, float] = {}
        scan_hits: dict[str, int] = {}
        for q in QUERIES:
            t0 = time.perf_counter()
            scan_hits[q] = scan_search(sessions_dir, q)
            scan_q[q] = (time.perf_counter() - t0) * 1000
        med_q = list(per_query.values())
        rows.append(
            (
                "`index.search(q, 20)`, 20 queries",
                ms(statistics.median(med_q)),
                ms(pct(med_q, 0.95)),
                f"per-query medians of 5 runs; slowest {max(per_query, key=per_query.__getitem__)}",
            )
        )
        rows.append(
            (
                "`sync()` + `search()`",
                ms(statistics.median(sync_search)),
                ms(pct(sync_search, 0.95)),
                "what a CLI search does in-process",
            )
        )
        sq = list(scan_q.values())
        rows.append(
            (
                "plain scan for search (read every file, substring)",
                ms(statistics.median(sq)),
                ms(pct(sq, 0.95)),
                f"1 run per query; {statistics.median(sq) / statistics.median(sync_search):,.0f}x"
                " sync+search (medians)",
            )
        )

        # -- whole commands
        print("whole commands ...", file=sys.stderr)
        cli_runs = 5
        base = [run_cli(root, ["-c", "pass"]) for _ in range(cli_runs)]
        helpt = [run_cli(root, ["-m", "tui", "--help"]) for _ in range(cli_runs)]
        cl = [run_cli(root, ["-m", "tui", "sessions", "list", "--limit", "50"]) for _ in range(5)]
        cs = [
            run_cli(root, ["-m", "tui", "sessions", "search", q])
            for q in ("python", "流式输出", "retry backoff", "quokka", "database index")
        ]
        rows.append(("`python -c pass` (interpreter alone)", ms(statistics.median(base)), "", ""))
        rows.append(
            ("`python -m tui --help` (imports, no data)", ms(statistics.median(helpt)), "", "")
        )
        rows.append(
            ("`python -m tui sessions list --limit 50`", ms(statistics.median(cl)), ms(max(cl)),
             f"{len(cl)} runs (p95 column: max)")
        )  # fmt: skip
        rows.append(
            ("`python -m tui sessions search QUERY`", ms(statistics.median(cs)), ms(max(cs)),
             f"{len(cs)} queries (p95 column: max)")
        )  # fmt: skip

        # -- re-index after 10 changed files
        print("re-index ...", file=sys.stderr)
        rng = random.Random(SEED + 1)
        tm = TextMaker(rng)
        files = sorted(sessions_dir.glob("*.md"))
        reindex: list[float] = []
        for _ in range(5):
            for p in rng.sample(files, 10):
                s = fileformat.parse_bytes(p.read_bytes(), str(p)).session
                s.messages[-1].text += "\n\n" + tm.paragraph()
                p.write_bytes(fileformat.write(s).encode("utf-8"))
            t0 = time.perf_counter()
            report = lib.index.sync()
            reindex.append((time.perf_counter() - t0) * 1000)
            assert report.updated == 10, report
        rows.append(
            ("re-index after 10 files changed (`sync()`)", ms(statistics.median(reindex)),
             ms(max(reindex)), "5 rounds (p95 column: max)")
        )  # fmt: skip

        # -- the first sync after liu's own write (its refresh leaves no stored listing)
        after_write: list[float] = []
        for p in rng.sample(files, 5):
            lib.index.refresh([p])
            t0 = time.perf_counter()
            lib.index.sync()
            after_write.append((time.perf_counter() - t0) * 1000)
        rows.append(
            ("first `sync()` after liu's own write (`refresh`)", ms(statistics.median(after_write)),
             ms(max(after_write)), "5 rounds (p95 column: max)")
        )  # fmt: skip
        lib.close()
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)

    print(f"\n{n:,} sessions, {size / 1e6:.0f} MB ({size / n / 1000:.1f} KB each); "
          f"index {db_size / 1e6:.0f} MB + WAL {wal_size / 1e6:.0f} MB after the cold build; "
          f"Python {sys.version.split()[0]}, SQLite {__import__('sqlite3').sqlite_version}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end\n")  # fmt: skip
    print("| measurement | median | p95 | note |")
    print("| --- | ---: | ---: | --- |")
    for what, med, p95, note in rows:
        print(f"| {what} | {med} | {p95} | {note} |")
    print("\n| query | index | hits (≤20) | plain scan | files containing the words |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for q in QUERIES:
        print(f"| {q} | {ms(per_query[q])} | {hits[q]} | {ms(scan_q[q])} | {scan_hits[q]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
