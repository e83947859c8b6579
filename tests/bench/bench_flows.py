"""Time loading the shipped flows and running engine steps (not collected by pytest).

Run: .venv/bin/python tests/bench/bench_flows.py
Targets: loading all flows < 200 ms; one engine step well under 1 ms.
"""

from __future__ import annotations

import time
from pathlib import Path

from helpline.triage.flows.engine import FlowContext, FlowEngine
from helpline.triage.flows.loader import FlowRegistry

FLOWS = Path(__file__).resolve().parents[2] / "flows"
CONTEXT = FlowContext(open_now=True)
ROUNDS = 2000


def bench_load() -> float:
    """Return the best of five load times of every shipped flow, in milliseconds."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        FlowRegistry.load(FLOWS)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def bench_steps(engine: FlowEngine) -> tuple[float, int]:
    """Return microseconds per step for a whole SMS conversation, and steps run."""
    replies = ["yeah", "im 14", "y", "yes pls"]
    steps = 0
    started = time.perf_counter()
    for _ in range(ROUNDS):
        step = engine.start(flow_id="sms_triage", first_text=None, context=CONTEXT)
        for text in replies:
            step = engine.handle_reply(step.state, text, context=CONTEXT)
        steps += 1 + len(replies)
    return (time.perf_counter() - started) / steps * 1e6, steps


def bench_detection(engine: FlowEngine) -> tuple[float, float]:
    """Return ms for the first detection (detector build, models load) and µs per later one."""
    started = time.perf_counter()
    engine.start(flow_id="sms_triage", first_text="مرحبا أحتاج مساعدة", context=CONTEXT)
    engine.start(flow_id="sms_triage", first_text="xin chào tôi cần giúp đỡ", context=CONTEXT)
    engine.start(flow_id="sms_triage", first_text="سلام کمک می خواهم", context=CONTEXT)
    first = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    for _ in range(200):
        engine.start(flow_id="sms_triage", first_text="I ran away from home", context=CONTEXT)
    return first, (time.perf_counter() - started) / 200 * 1e6


def main() -> None:
    """Print the figures."""
    cold = time.perf_counter()
    registry = FlowRegistry.load(FLOWS)
    cold_ms = (time.perf_counter() - cold) * 1000
    print(f"load all flows: first {cold_ms:.1f} ms, best of 5 {bench_load():.1f} ms (< 200 ms)")
    engine = FlowEngine(registry)
    per_step, steps = bench_steps(engine)
    print(f"engine step: {per_step:.1f} µs per step over {steps} steps (well under 1000 µs)")
    first, later = bench_detection(engine)
    print(f"language detection: first three {first:.0f} ms (builds detector), then {later:.0f} µs")


if __name__ == "__main__":
    main()
