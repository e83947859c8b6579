"""Server CPU a webhook, in interleaved rounds: tell a change from this machine's noise.

Each round runs a closed loop of signed SMS webhooks (50 connections) against every
variant in turn and reads the server's own CPU time from ``/proc``; the table gives
each variant's median and its ratio to the bare handler of the same round. Variants:

- ``bare``: ``bare_server.py``, the handler that only checks the signature;
- ``floor``: ``floor_server.py``, bare plus one encrypted row committed before answering;
- ``NAME=CHECKOUT`` or ``NAME=CHECKOUT:web``: ``helpline serve`` (``--web-only``) from a
  checkout of this repository, e.g. a ``git worktree`` of another commit.

Run: ``.venv/bin/python tests/bench/bench_cpu.py bare floor now=.:web before=../old:web``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # ``tests`` when run as a file
from tests.bench import bench_sms as sms


def server(variant: str, port: int, url: str, work: Path) -> subprocess.Popen[bytes]:
    """Start ``variant`` on ``port`` with a fresh database under ``work``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    env.update(HELPLINE_VAR_DIR=str(work), HELPLINE_PUBLIC_URL=url,
               HELPLINE_DATABASE_URL=f"sqlite+aiosqlite:///{work / 'helpline.db'}",
               HELPLINE_LOG_LEVEL="WARNING", HELPLINE_CONFIG=str(work / "no-config.toml"))
    if variant == "bare":
        return sms.spawn([str(sms.BARE_SERVER), "--port", str(port), "--public-url", url], env)
    if variant == "floor":
        return sms.spawn([str(sms.FLOOR_SERVER), "--port", str(port), "--public-url", url,
                          "--database", str(work / "floor.db")], env)
    checkout = Path(variant.split("=", 1)[1].removesuffix(":web")).resolve()
    upgrade = [sys.executable, "-m", "helpline", "db", "upgrade"]
    if subprocess.run(upgrade, env=env, cwd=checkout, capture_output=True).returncode:  # noqa: S603
        raise RuntimeError(f"helpline db upgrade failed in {checkout}")
    web_only = ["--web-only"] if variant.endswith(":web") else []
    return sms.spawn(["-m", "helpline", "serve", "--port", str(port), *web_only], env,
                     work / "server.stderr", checkout)


async def bench(args: argparse.Namespace, tmp: Path) -> bool:
    """Run the rounds and print the table; return whether every run was free of errors."""
    port = sms.free_port()
    url = f"http://127.0.0.1:{port}"
    per_round = int(args.seconds * args.max_rate)
    print(f"signing {per_round * args.rounds} requests ...", file=sys.stderr)
    pool = sms.signed_requests(per_round * args.rounds, url, 1000)
    cpu: dict[str, list[float]] = {v: [] for v in args.variants}
    clean = True
    for round_ in range(args.rounds):
        fresh = pool[round_ * per_round:(round_ + 1) * per_round]  # no MessageSid twice
        for number, variant in enumerate(args.variants):
            work = tmp / f"{round_}-{number}"
            work.mkdir()
            proc = server(variant, port, url, work)
            try:
                await sms.wait_healthy(url, proc)
                await sms.closed_loop(url, fresh[:1000], 10, 1, "warm-up")
                used = sms.cpu_seconds(proc)
                result = await sms.closed_loop(url, fresh[1000:], args.connections,
                                               args.seconds, variant)
                spent = sms.cpu_seconds(proc) - used
            finally:
                sms.stop(proc)
            cpu[variant].append(spent / max(1, len(result.latencies)) * 1e6)
            clean = clean and not result.errors
            errors = f"  errors {dict(result.errors)}" if result.errors else ""
            print(f"round {round_ + 1}: {variant:<32}{cpu[variant][-1]:>7.0f} µs a request"
                  f"{errors}", file=sys.stderr)
    print(f"\n{'variant':<32}{'median µs':>10}{'min µs':>8}  bare/variant (median of rounds)")
    for variant, values in cpu.items():
        ratio = ""
        if "bare" in cpu and variant != "bare":
            paired = [b / v for b, v in zip(cpu["bare"], values, strict=True)]
            ratio = f"{statistics.median(paired):.2f}"
        print(f"{variant:<32}{statistics.median(values):>10.0f}{min(values):>8.0f}  {ratio}")
    return clean


def main() -> int:
    """Parse arguments and run in a throw-away directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", help="bare | floor | NAME=CHECKOUT[:web]")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4, help="closed loop per run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--max-rate", type=int, default=8000,
                        help="requests to sign per second of run (each is sent once)")
    return sms.run_in_temp_dir(bench, parser.parse_args(), "helpline-bench-cpu-")


if __name__ == "__main__":
    sys.exit(main())
