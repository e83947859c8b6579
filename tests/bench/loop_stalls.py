"""Run a ``helpline`` command with its event loop's long steps recorded: a benchmark diagnostic.

``python tests/bench/loop_stalls.py OUT serve [...]`` runs ``helpline serve [...]``. Every
step of the loop (one callback, or one run of a task up to its next ``await`` that really
waits) that takes longer than ``STALL_SECONDS`` is counted under the task it belongs to and
where that task was waiting afterwards (its coroutines in ``helpline/``, then the
innermost): the work was done since its previous wait. On
SIGUSR1, and at exit, the counts are written to OUT, longest first, and started again.

A webhook read while a step runs waits for it to end, so these steps make up the tail of
the latency the benchmark measures. A step's time includes any time the OS gave the core
to another process: on a shared machine a long step is not always long work.
"""

from __future__ import annotations

import asyncio.events
import atexit
import os
import signal
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

STALL_SECONDS = 0.004


def where(callback: Any) -> str:
    """Return the task's coroutines in this project, outer first, and the one it waits in.

    For a plain callback, its name.
    """
    task = getattr(callback, "__self__", None)
    coro = task.get_coro() if isinstance(task, asyncio.Task) else None
    if coro is None:
        return getattr(callback, "__qualname__", type(callback).__name__)
    chain = []
    while coro is not None and len(chain) < 40:
        code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
        if code is None:
            break
        chain.append(code)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    ours = [c for c in chain[:-1] if f"{os.sep}helpline{os.sep}" in c.co_filename]
    return ">".join(c.co_qualname for c in [*ours, *chain[-1:]])


class StallRecorder:
    """Times every step of the loop and keeps the long ones by where they happened."""

    def __init__(self, out: Path) -> None:
        self._out = out
        self._steps: defaultdict[str, list[float]] = defaultdict(list)
        self._run = asyncio.events.Handle._run

    def install(self) -> None:
        """Wrap ``Handle._run``, and write the counts on SIGUSR1 and at exit."""
        recorder, run = self, self._run

        def timed_run(handle: asyncio.events.Handle) -> None:
            started = time.perf_counter()
            run(handle)
            took = time.perf_counter() - started
            if took > STALL_SECONDS:
                recorder._steps[where(handle._callback)].append(took)

        asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]
        signal.signal(signal.SIGUSR1, lambda *_: self.write())
        atexit.register(self.write)

    def write(self) -> None:
        """Write the long steps, longest first, and start counting again."""
        steps, self._steps = self._steps, defaultdict(list)
        lines = [f"{len(times):6d} {max(times) * 1000:7.1f} {sum(times) * 1000:8.1f}  {name}\n"
                 for name, times in sorted(steps.items(), key=lambda kv: -max(kv[1]))]
        self._out.write_text(" steps  max ms  all ms  task>where it waited next\n"
                             + "".join(lines))


def main() -> int:
    """Record the long steps of ``helpline ARGS`` into OUT."""
    out, *argv = sys.argv[1:]
    sys.path.insert(0, os.getcwd())  # the checkout being measured (bench_sms --source)
    from helpline.cli import main as helpline

    StallRecorder(Path(out)).install()
    return helpline(argv)


if __name__ == "__main__":
    sys.exit(main())
