"""A background task's share of the event loop: counted by its own CPU, held only in a flood."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from helpline import appkeys
from helpline.app import create_app
from helpline.background import LoopShare
from helpline.clock import FrozenClock
from helpline.inbox.service import RateMeter
from helpline.settings import Settings
from helpline.triage.lexicon import RiskLexicon
from tests.conftest import TwilioWebhooks


def spin(seconds: float) -> None:
    """Use ``seconds`` of this thread's CPU."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


async def hog(stop: asyncio.Event, step: float = 0.001) -> None:
    """Keep the loop busy in short steps, as a flood of webhooks does, until ``stop``."""
    while not stop.is_set():
        spin(step)
        await asyncio.sleep(0)


async def piece(seconds: float = 0.005) -> None:
    """Use ``seconds`` of CPU, letting the loop run others ten times meanwhile.

    As filing a text does between its statements.
    """
    for _ in range(10):
        spin(seconds / 10)
        await asyncio.sleep(0)


async def work(share: LoopShare, pieces: int) -> None:
    """Do ``pieces`` of 5 ms of CPU through ``share``, taking turns between them."""
    for _ in range(pieces):
        await share.turn()
        await share.counted(piece())


async def test_counted_cpu_is_the_coroutines_own_not_what_runs_while_it_waits() -> None:
    """Test that the CPU other tasks use while the counted coroutine waits is not its own."""
    share = LoopShare(0.5, flooding=lambda: True)
    stop = asyncio.Event()

    async def counted() -> str:
        spin(0.02)
        await asyncio.sleep(0.1)  # meanwhile the hog spends about 0.1 s
        spin(0.02)
        return "done"

    hogging = asyncio.create_task(hog(stop))
    assert await share.counted(counted()) == "done"
    stop.set()
    await hogging
    assert 0.035 <= share._own < 0.08


async def test_a_counted_coroutine_is_cancelled_and_raises_as_itself() -> None:
    """Test that cancellation reaches the counted coroutine, and its errors come out as is."""
    share = LoopShare(0.5, flooding=lambda: True)
    cancelled = asyncio.Event()

    async def waits() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def in_a_task() -> None:
        await share.counted(waits())

    task = asyncio.create_task(in_a_task())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()

    async def fails() -> None:
        await asyncio.sleep(0)
        raise KeyError("x")

    with pytest.raises(KeyError):
        await share.counted(fails())


async def test_a_flood_holds_the_task_to_its_share() -> None:
    """Test that while a flood keeps the loop busy, the task gets its share and no more."""
    share = LoopShare(0.1, flooding=lambda: True, burst=0.02)
    stop = asyncio.Event()
    hogging = asyncio.create_task(hog(stop))
    started = time.monotonic()
    await work(share, 12)  # 60 ms of work: 0.6 s of wall time at a tenth
    elapsed = time.monotonic() - started
    stop.set()
    await hogging
    # Unheld it would take 0.07-0.14 s; at a tenth, less the burst, about 0.4 s at least.
    assert elapsed >= 0.3
    assert share.waited >= 0.25


async def test_no_flood_no_wait() -> None:
    """Test that outside a flood the task never waits, however much it spends."""
    share = LoopShare(0.01, flooding=lambda: False, burst=0.0)
    stop = asyncio.Event()
    hogging = asyncio.create_task(hog(stop))
    await work(share, 20)
    stop.set()
    await hogging
    assert share.waited == 0


async def test_a_loop_with_time_to_spare_does_not_hold_the_task() -> None:
    """Test that webhooks arriving slowly (the others using a little of it) do not hold it."""
    share = LoopShare(0.01, flooding=lambda: True, burst=0.0)
    stop = asyncio.Event()

    async def light_load() -> None:  # 200 webhooks a second at 0.15 ms each: 3% of the loop
        while not stop.is_set():
            spin(0.00015)
            await asyncio.sleep(0.005)

    loading = asyncio.create_task(light_load())
    await work(share, 20)  # 0.1 s of work; held at a hundredth it would wait 10 s
    stop.set()
    await loading
    assert share.waited < 0.25  # a short look a piece; held, it would wait 10 s


async def test_the_wait_ends_when_the_loop_has_time_to_spare() -> None:
    """Test that a task paying for a flood goes on soon after the loop goes idle."""
    share = LoopShare(0.01, flooding=lambda: True, burst=0.0)
    stop = asyncio.Event()
    hogging = asyncio.create_task(hog(stop))
    await share.turn()
    await share.counted(piece())  # 5 ms in a flood: half a second to wait at a hundredth
    waiting = asyncio.create_task(share.turn())
    await asyncio.sleep(0.05)  # the wait is under way, the flood going on
    assert not waiting.done()
    stop.set()
    await hogging
    await asyncio.wait_for(waiting, timeout=5)
    assert 0.05 <= share.waited < 0.3


async def test_no_debt_is_carried_from_quiet_time_into_a_flood() -> None:
    """Test that CPU spent while there was no flood is not paid for when one starts."""
    flooding = False
    share = LoopShare(0.1, flooding=lambda: flooding, burst=0.0)
    await work(share, 20)  # 0.1 s, unheld
    flooding = True
    stop = asyncio.Event()
    hogging = asyncio.create_task(hog(stop))
    await share.turn()
    stop.set()
    await hogging
    assert share.waited == 0


def test_a_share_must_leave_something_to_both() -> None:
    """Test that a share of 0 or 1 is refused."""
    for share in (0, 1, 1.5):
        with pytest.raises(ValueError, match="share"):
            LoopShare(share, flooding=lambda: True)


def test_the_arrival_rate_follows_the_last_tenth_of_a_second() -> None:
    """Test that the rate the inbox reads (to tell a flood) is the recent one, not an average."""
    meter = RateMeter(window=0.1)
    assert meter.rate(0.0) == 0
    for i in range(400):  # 2,000 a second for 0.2 s
        meter.count(i / 2000)
    assert 1800 <= meter.rate(0.2) <= 2200
    assert meter.rate(0.25) <= 1100  # fading: nothing came for 50 ms
    assert meter.rate(0.45) == 0
    for i in range(20):  # then 200 a second
        meter.count(1.0 + i / 200)
    assert meter.rate(1.1) <= 250


async def test_the_inbox_tells_a_flood_at_the_configured_rate(
        aiohttp_client: Any, settings: Settings, clock: FrozenClock,
        lexicon: RiskLexicon) -> None:
    """Test that webhooks at ``inbox_flood_rate`` a second make a flood, and that it passes."""
    app = create_app(settings.model_copy(update={"inbox_flood_rate": 20}), clock=clock,
                     lexicon=lexicon, run_workers=False)
    twilio = TwilioWebhooks(await aiohttp_client(app))
    inbox = app[appkeys.INBOX]
    assert not inbox.flooding()
    await twilio.sms("hello", sender="+447700900620", process=False)
    assert not inbox.flooding()  # one text is no flood
    await asyncio.gather(*(twilio.sms("hello", sender=f"+4477009006{i:02d}", process=False)
                           for i in range(21, 41)))
    assert inbox.flooding()  # twenty in far less than a second
    await asyncio.sleep(0.25)
    assert not inbox.flooding()
