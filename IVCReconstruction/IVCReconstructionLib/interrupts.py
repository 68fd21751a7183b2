"""Ctrl-C and SIGTERM for the command line: stop at the next stage boundary, never in native code.

Python raises KeyboardInterrupt wherever the interpreter happens to be when a signal arrives:
inside a VTK observer called back from C++, half way through writing a file, or while objects
VMTK is still using are torn down; the command line once ended in a segmentation fault that
way. :func:`deferred` (``ivc-plan``'s ``main``) replaces the handlers of SIGINT and SIGTERM by
one that only records the signal; :func:`check` raises :class:`Interrupted` where it is safe to
stop. ``stages.StageClock.stage`` checks at the start and the end of every stage, and
``pipeline.run_pipeline`` at each step inside the long stages (their ``progress`` callbacks), so
a run stops at the next step boundary, after the native call that is running has returned.
After the first signal a second one ends the process at once, as users expect of a second
Ctrl-C (the temporary output folder it leaves behind is removed by the next run into the same
folder).

:func:`critical` marks a block that must not be cut short even by a second signal: the few
renames that put a finished output set in place (``outputs.atomic``).

Where :func:`deferred` is not in use (the Slicer application, the tests' own calls), :func:`check`
does nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_requested: int | None = None
_critical = 0
_active = False


class Interrupted(Exception):  # noqa: N818 - a request, not a failure
    """A SIGINT or SIGTERM was received: the run stops. ``exit_code`` is the shell's 128 + signal
    number (130 for Ctrl-C, 143 for SIGTERM)."""

    def __init__(self, signum: int):
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum)


class StepCancelledError(Exception):
    """The user cancelled a long step in Slicer's progress dialog; raised from the step's progress
    callback, so that, like :class:`Interrupted`, it stops at a step boundary and the scene is left
    as it was."""


def _say(text: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, text.encode())  # not print(): a handler may run while print holds stderr


def _handler(signum, _frame) -> None:
    global _requested
    if _requested is None:
        _requested = signum
        _say(
            "ivc-plan: interrupted: stopping at the end of the current stage "
            "(press Ctrl-C again to stop at once)\n"
        )
    if not _critical:
        # A second signal ends the process at once (the default action), even in native code.
        for s in SIGNALS:
            signal.signal(s, signal.SIG_DFL)


def requested() -> int | None:
    """The signal number received, or None."""
    return _requested


def check() -> None:
    """Raise :class:`Interrupted` if a signal was received (outside a :func:`critical` block)."""
    if _requested is not None and not _critical:
        raise Interrupted(_requested)


@contextmanager
def deferred() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM are recorded instead of raising KeyboardInterrupt;
    :func:`check` acts on them. The previous handlers are restored afterwards (and a signal
    still pending is forgotten). Only the main thread can install handlers: elsewhere the block
    runs with the handlers as they are."""
    global _requested, _active
    if threading.current_thread() is not threading.main_thread() or _active:
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    _requested, _active = None, True
    for s in SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _requested, _active = None, False


@contextmanager
def critical() -> Iterator[None]:
    """A block that no signal cuts short: a signal received meanwhile is acted on at the next
    :func:`check` after it (or not at all, when the run has finished by then)."""
    global _critical
    _critical += 1
    if _active and threading.current_thread() is threading.main_thread():
        for s in SIGNALS:
            signal.signal(s, _handler)  # a second signal is recorded too, not fatal
    try:
        yield
    finally:
        _critical -= 1
        main = threading.current_thread() is threading.main_thread()
        if _active and not _critical and _requested is not None and main:
            for s in SIGNALS:
                signal.signal(s, signal.SIG_DFL)
