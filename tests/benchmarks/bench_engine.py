"""The reply engine alone, no UI: CPU per 1,000 tokens of `liu ask > /dev/null` against a bare
httpx loop reading the same stream from the same loopback server, in one run.

    .venv/bin/python tests/benchmarks/bench_engine.py [--tokens 20000] [--reps 5]

Both are whole processes (interpreter start-up and imports included); the table also gives
each net of a 1-token run, which is the cost of the streaming itself.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

BARE_LOOP = r"""
import json, sys, httpx
url = sys.argv[1]
body = {"model": "fake-model", "stream": True, "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "go"}]}
out = open("/dev/null", "w")
with httpx.Client(timeout=60) as client:
    with client.stream("POST", url + "/chat/completions", json=body) as r:
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunk = json.loads(line[6:])
                for choice in chunk.get("choices") or []:
                    out.write(choice.get("delta", {}).get("content") or "")
"""


def child_cpu(argv: list[str], env: dict[str, str]) -> float:
    """CPU seconds (user + system) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.devnull, "w") as devnull:
        subprocess.run(argv, stdout=devnull, env=env, check=True, cwd=REPO)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def start_server(tokens: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "server.py"), "--port", "0", "--tokens", str(tokens)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip().split()[-1]
    return proc, url.rstrip("/")


def measure(tokens: int, reps: int, home: Path) -> dict[str, list[float]]:
    server, url = start_server(tokens)
    openai_url = url if url.endswith("/v1") else url + "/v1"
    try:
        (home / "config.toml").write_text(
            'default_model = "lab:fake-model"\n[providers.lab]\nkind = "openai"\n'
            f'base_url = "{openai_url}"\nmodels = ["fake-model"]\n'
        )
        env = {**os.environ, "LIU_HOME": str(home)}
        runs: dict[str, list[float]] = {"liu ask": [], "bare httpx loop": []}
        for _ in range(reps):
            runs["liu ask"].append(
                child_cpu([sys.executable, "-m", "tui", "ask", "--no-save", "go"], env)
            )
            runs["bare httpx loop"].append(
                child_cpu([sys.executable, "-c", BARE_LOOP, openai_url], env)
            )
        return runs
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        full = measure(args.tokens, args.reps, home)
        idle = measure(1, args.reps, home)
    per_k = args.tokens / 1000
    print(f"{args.tokens} tokens as fast as the loopback server sends them; medians of {args.reps}")
    print()
    print(
        "| client | CPU s (whole process) | CPU s net of a 1-token run | CPU s / 1k tokens (net) |"
    )
    print("|---|---|---|---|")
    net: dict[str, float] = {}
    for name, values in full.items():
        med = statistics.median(values)
        base = statistics.median(idle[name])
        net[name] = med - base
        print(f"| {name} | {med:.3f} | {net[name]:.3f} | {net[name] / per_k:.4f} |")
    ratio_whole = statistics.median(full["liu ask"]) / statistics.median(full["bare httpx loop"])
    ratio_net = net["liu ask"] / net["bare httpx loop"] if net["bare httpx loop"] > 0 else 0.0
    print()
    print(f"ratio liu/bare: {ratio_whole:.2f}x whole process, {ratio_net:.2f}x net of start-up")


if __name__ == "__main__":
    main()
