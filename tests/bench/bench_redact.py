"""Benchmark redaction on typical log lines: microseconds per call, per line and overall.

Every log line goes through ``redact`` (the RedactingFilter), so its cost on short lines with
few digits matters most; lines with a number in them take the phonenumbers matcher's path.

Run: ``.venv/bin/python tests/bench/bench_redact.py [--repeat 2000]``
"""

from __future__ import annotations

import argparse
import time

from helpline.privacy.redact import redact

LINES = [
    "outbox 42 sent attempt=1",
    "inbound stored conversation=1187 message=90211 new=False",
    "alert 17 acknowledged by user 3 via sms",
    "job 5531 flow_timeout done",
    "outbox 42 attempt 3 failed (timeout); retry at 2026-11-22 03:14:54.123456+00:00",
    "redelivered message ignored sid=SM0123456789abcdef0123456789abcdef",
    '127.0.0.1 [22/Nov/2026:03:14:54 +0000] "POST /twilio/sms HTTP/1.1" 200 150 "-" "Twilio"',
    "refused webhook with a bad or missing signature path=/twilio/sms",
    "cannot reply to whatsapp:+447700900123: not a possible number",
    "ValueError: bad To 07700 900123 for jo@example.org at SW1A 1AA",
]


def bench(line: str, repeat: int) -> float:
    """Return the mean microseconds one ``redact(line)`` takes."""
    redact(line)  # warm the matcher's metadata and the regex caches
    start = time.perf_counter()
    for _ in range(repeat):
        redact(line)
    return (time.perf_counter() - start) / repeat * 1e6


def main() -> None:
    """Print microseconds per call for each line and the mean over all of them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    timings = []
    for line in LINES:
        micros = bench(line, args.repeat)
        timings.append(micros)
        print(f"{micros:8.1f} µs  {line[:70]}")
    print(f"{sum(timings) / len(timings):8.1f} µs  mean over {len(LINES)} lines")


if __name__ == "__main__":
    main()
