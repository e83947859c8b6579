"""Benchmark the risk lexicon: ``python tests/bench/bench_lexicon.py [--rounds N]``.

Loads the lexicon (printing the load time), then assesses every corpus line many times
and prints the mean and 99th percentile time per message, in microseconds. The first
round fills the misspelling cache; later rounds show the steady state.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from helpline.triage.lexicon import RiskLexicon  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "triage-dev.tsv"
FALLBACK = [
    "someone is following me and im scared",
    "hi what time do you open tomorrow",
    "em bị nhốt trong nhà không cho ra ngoài",
    "ما بدي عيش بعد اليوم",
]


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    started = time.perf_counter()
    lexicon = RiskLexicon.load(REPO / "config" / "lexicon")
    print(
        f"load: {(time.perf_counter() - started) * 1000:.1f} ms "
        f"({len(lexicon.languages)} languages)"
    )

    if CORPUS.is_file():
        messages = [line.split("\t", 2)[2] for line in CORPUS.read_text("utf-8").splitlines()]
    else:
        print(f"corpus not found at {CORPUS}; using built-in messages")
        messages = FALLBACK

    started = time.perf_counter()
    for message in messages:
        lexicon.assess(message)
    first = (time.perf_counter() - started) / len(messages) * 1e6
    print(f"first pass (cold caches): {first:.1f} µs/message")

    timings = []
    for _ in range(args.rounds):
        for message in messages:
            started = time.perf_counter_ns()
            lexicon.assess(message)
            timings.append((time.perf_counter_ns() - started) / 1000)
    timings.sort()
    p99 = timings[int(len(timings) * 0.99) - 1]
    mean_length = statistics.mean(len(message) for message in messages)
    print(f"{len(messages)} messages (mean {mean_length:.0f} chars) x {args.rounds} rounds")
    print(f"mean: {statistics.mean(timings):.1f} µs/message   p99: {p99:.1f} µs/message")
    return 0


if __name__ == "__main__":
    sys.exit(main())
