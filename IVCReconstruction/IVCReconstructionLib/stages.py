"""Timing (and optionally peak memory) of the pipeline's stages, with progress messages.

The command line prints a line when a long stage starts and one with its time when it ends
(on stderr, so stdout stays the summary); the benchmark reads the same records with the peak
resident memory of each stage, sampled from /proc by a background thread while it runs.

Every stage boundary is also where a run stops after Ctrl-C or SIGTERM (``interrupts.check``:
a no-op unless the command line deferred the signals), so no stage is cut short in native code.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from . import interrupts

_PAGE_MB = None


def resident_mb() -> float:
    """This process's resident memory now, in MB (0 where /proc is not available)."""
    global _PAGE_MB
    try:
        if _PAGE_MB is None:
            import os

            _PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE_MB
    except (OSError, ValueError, IndexError):
        return 0.0


@dataclass
class StageRecord:
    name: str
    seconds: float
    peak_mb: float | None = None  # peak resident memory during the stage, when sampled


@dataclass
class StageClock:
    """Times stages; ``progress`` receives the messages (None: silent). With
    ``sample_memory`` a thread samples the resident memory every ``interval_s``."""

    progress: Callable[[str], None] | None = None
    sample_memory: bool = False
    interval_s: float = 0.01
    records: list[StageRecord] = field(default_factory=list)

    def _say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    @contextmanager
    def stage(self, name: str, starting: str | None = None) -> Iterator[None]:
        """Time the block as stage ``name``; ``starting`` is announced first (for stages that
        can take more than a second). A pending interrupt (``interrupts``) stops the run
        before the stage starts and after it ends."""
        interrupts.check()
        if starting:
            self._say(f"{starting} ...")
        peak = [resident_mb()]
        stop = threading.Event()
        sampler = None
        if self.sample_memory:

            def sample() -> None:
                while not stop.wait(self.interval_s):
                    peak[0] = max(peak[0], resident_mb())

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
        start = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - start
            stop.set()
            if sampler is not None:
                sampler.join()
                peak[0] = max(peak[0], resident_mb())
            self.records.append(StageRecord(name, seconds, peak[0] if self.sample_memory else None))
        if seconds >= 1.0 or starting:
            self._say(f"{name}: {seconds:.1f} s")
        interrupts.check()

    @property
    def total_seconds(self) -> float:
        return sum(r.seconds for r in self.records)
