"""The live processes of one sink: found by the conversation they hold, kept within bounds.

:meth:`LivePool.find` takes the process whose conversation a request continues (its chain's
last digest equals the request's but one, see live_conversation), counting a hit, or counts a
miss by reason. Processes the request shows to be stale are ended on the way: one whose
conversation the request passed (the client went on elsewhere), one a turn ahead of it (the
client retried or edited its last turn), one its session hint names with another history.

:meth:`LivePool.keep` takes a process back after its answer. Bounds: ``size`` processes, their
memory (PSS from /proc) within ``memory_budget``, the machine's available memory above
``reserve`` (a bound over every sink and gateway on it), each idle at most ``max_idle`` and
alive at most ``max_age``, and none past a change of date (the CLI would add a note of its own
to the history). Over a bound, the least recently used goes first. A housekeeping task ends what
expires and checks the memory after each keep, off the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, OrderedDict
from typing import Any

from ..base import SinkMetric
from .child_process import proc_bytes
from .live_conversation import Continuation
from .live_process import LiveProcess, calendar_dates

__all__ = ["LivePool"]

log = logging.getLogger("gateway.sinks")

_MIB = 2**20


class LivePool:
    def __init__(
        self,
        name: str,
        *,
        size: int,
        max_idle: float,
        max_age: float,
        memory_budget: int,
        reserve: int,
    ) -> None:
        self.name = name
        self.size = size
        self.max_idle = max_idle
        self.max_age = max_age
        self.memory_budget = memory_budget
        self.reserve = reserve
        # The digest of the conversation each holds -> the process, least recently used first.
        self._kept: OrderedDict[str, LiveProcess] = OrderedDict()
        self._serving: set[LiveProcess] = set()
        self._memory = 0  # bytes, as last read
        self.hits = 0
        self.misses: Counter[str] = Counter()
        self.ended: Counter[str] = Counter()
        self._ending: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # --- requests -------------------------------------------------------------------------------

    def find(
        self, chain: tuple[str, ...], turn: Continuation | str, hint: str | None
    ) -> LiveProcess | None:
        """The process that holds ``chain`` but its last turn, to be given ``turn``; None (a
        miss, counted by reason) when none can answer exactly as a cold run would."""
        held = chain[-2]
        found = self._kept.get(held)
        stale = [
            digest
            for digest, process in self._kept.items()
            if process is not found
            and (
                digest in chain[:-2]  # passed: the client went on elsewhere
                # One exchange ahead: the client retried or edited its last turn. (Further
                # back, or at the start, it may as well be another conversation.)
                or (len(chain) > 2 and process.chain[-3] == held)
                or (hint is not None and process.hint == hint and process.setup == chain[0])
            )
        ]
        for digest in stale:
            self._end(self._kept.pop(digest), "stale")
        if found is None:
            self.misses["edited" if stale else "new"] += 1
            return None
        del self._kept[held]
        why = self._unfit(found, turn)
        if why is not None:
            self._end(found, why)
            self.misses[why] += 1
            return None
        self.hits += 1
        self._serving.add(found)
        return found

    def serving(self, process: LiveProcess) -> None:
        """A process answering its first turn, to be kept or released after it."""
        self._serving.add(process)

    def keep(self, process: LiveProcess) -> str | None:
        """Takes ``process`` back after an answer (its :attr:`chain` and run set); or says why
        it cannot, and then :meth:`release` must end it."""
        if self._closed:
            return "closing"
        self._serving.discard(process)
        if process.chain[-1] in self._kept:  # the same conversation answered twice at once
            self._end(self._kept.pop(process.chain[-1]), "stale")
        while len(self._kept) >= self.size:
            self._end(self._kept.popitem(last=False)[1], "evicted")
        process.last_used = time.monotonic()
        self._kept[process.chain[-1]] = process
        self._changed.set()
        return None

    def release(self, process: LiveProcess, reason: str) -> None:
        """Ends a process that served a turn and is not kept."""
        self._serving.discard(process)
        self._end(process, reason)

    def end_all(self, reason: str) -> None:
        """Ends every kept process (the login or the binary changed)."""
        if self._kept:
            log.info("sink %s: ending %d live process(es): %s", self.name, len(self._kept), reason)
        while self._kept:
            self._end(self._kept.popitem(last=False)[1], reason)

    # --- lifetime -------------------------------------------------------------------------------

    def open(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._housekeeping())

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.end_all("closed")
        for process in list(self._serving):
            self.release(process, "closed")
        await asyncio.gather(*self._ending, return_exceptions=True)

    def processes(self) -> list[LiveProcess]:
        """The processes kept now (not those serving a turn)."""
        return list(self._kept.values())

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        return {
            "max": self.size,
            "kept": len(self._kept),
            "serving": len(self._serving),
            "holding_tool_calls": sum(bool(p.calls) for p in self._kept.values()),
            "memory_mib": round(self._memory / _MIB, 1),
            "hits": self.hits,
            "misses": dict(self.misses),
            "ended": dict(self.ended),
            "max_idle_s": self.max_idle,
            "processes": [_process_status(p, now) for p in self._kept.values()],
        }

    def metrics(self) -> list[SinkMetric]:
        return [
            SinkMetric("live_processes", "Processes keeping a conversation.", len(self._kept)),
            SinkMetric("live_memory_bytes", "Their memory (PSS).", self._memory),
            SinkMetric("live_hits", "Requests served by a live process.", self.hits, "counter"),
            *(
                SinkMetric("live_misses", "Requests no live process could serve, by reason.",
                           count, "counter", {"reason": reason})
                for reason, count in self.misses.items()
            ),
            *(
                SinkMetric("live_ended", "Live processes ended, by reason.", count, "counter",
                           {"reason": reason})
                for reason, count in self.ended.items()
            ),
        ]  # fmt: skip

    # --- inside ---------------------------------------------------------------------------------

    def _unfit(self, process: LiveProcess, turn: Continuation | str) -> str | None:
        now = time.monotonic()
        if not process.alive():
            return "died"
        if now - process.last_used > self.max_idle:
            return "idle"
        if now - process.started > self.max_age:
            return "age"
        if process.dates != calendar_dates():
            return "date"
        if isinstance(turn, str):
            return "results"  # not to be carried exactly; the process cannot go on without them
        if turn.kind == "user" and process.calls:
            return "mismatch"  # it holds calls the client did not answer
        if turn.kind == "results" and turn.call_ids != process.calls:
            return "mismatch"
        return None

    def _end(self, process: LiveProcess, reason: str) -> None:
        self.ended[reason] += 1
        task = asyncio.get_running_loop().create_task(process.end())
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    async def _housekeeping(self) -> None:
        while not self._closed:
            self._expire()
            await self._check_memory()
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._next_deadline()):
                    await self._changed.wait()

    def _expire(self) -> None:
        for digest, process in list(self._kept.items()):
            why = self._unfit(process, Continuation("user"))
            if why is not None and why != "mismatch":
                del self._kept[digest]
                self._end(process, why)

    async def _check_memory(self) -> None:
        if not self._kept:
            self._memory = 0
            return
        pids = [p.pid for p in self._kept.values()]
        sizes = await asyncio.to_thread(lambda: [proportional_bytes(pid) for pid in pids])
        self._memory = sum(sizes)
        available = await asyncio.to_thread(available_bytes)
        by_pid = dict(zip(pids, sizes, strict=True))
        short = available is not None and available < self.reserve
        while self._kept and (self._memory > self.memory_budget or short):
            _, process = self._kept.popitem(last=False)
            self._memory -= by_pid.get(process.pid, 0)
            if available is not None:
                available += by_pid.get(process.pid, 0)
                short = available < self.reserve
            self._end(process, "memory")

    def _next_deadline(self) -> float | None:
        if not self._kept:
            return None
        now = time.monotonic()
        soonest = min(
            min(p.last_used + self.max_idle, p.started + self.max_age) for p in self._kept.values()
        )
        return max(0.05, min(soonest - now, _until_a_date_changes()))


def _process_status(process: LiveProcess, now: float) -> dict[str, Any]:
    return {
        "pid": process.pid,
        "answers": process.answers,
        "idle_s": round(now - process.last_used, 1),
        "age_s": round(now - process.started, 1),
        "holding_tool_calls": len(process.calls),
    }


def _until_a_date_changes() -> float:
    now = time.time()
    local = time.localtime(now)
    since_local_midnight = local.tm_hour * 3600 + local.tm_min * 60 + local.tm_sec
    return min(86400 - since_local_midnight, 86400 - now % 86400) + 1


def proportional_bytes(pid: int) -> int:
    """A process's share of the memory it uses (PSS: pages shared with the other ``claude``
    processes count a part each), VmRSS where /proc has no smaps_rollup; 0 when it is gone."""
    found = proc_bytes(f"/proc/{pid}/smaps_rollup", "Pss")
    if found is None:
        found = proc_bytes(f"/proc/{pid}/status", "VmRSS")
    return found or 0


def available_bytes() -> int | None:
    """The machine's MemAvailable, or None where /proc/meminfo cannot say."""
    return proc_bytes("/proc/meminfo", "MemAvailable")
