"""SIGINT and SIGTERM as interrupts that remember which signal came.

Python raises ``KeyboardInterrupt`` on SIGINT and dies on SIGTERM. :func:`interrupts` makes both
raise an interrupt (:class:`Terminated`, a ``KeyboardInterrupt``, for SIGTERM), so that a sweep
stops as cleanly on either; :func:`signal_of` says which signal an interrupt came from. The
signal is also recorded here, because Ray's waits turn any interrupt raised inside them into a
plain ``KeyboardInterrupt``. Standard library only: the command line installs it for every
command.
"""

from __future__ import annotations

import contextlib
import signal
import threading

_received: list[int] = []


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program was."""

    signum = signal.SIGTERM


def _on_signal(signum, frame):
    _received.append(signum)
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


@contextlib.contextmanager
def interrupts():
    """While inside, SIGINT and SIGTERM raise interrupts (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    del _received[:]
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)


def signal_of(error: BaseException) -> int:
    """The signal behind an interrupt: its own, else the last one received, else SIGINT."""
    signum = getattr(error, "signum", None)
    if signum is not None:
        return signum
    return _received[-1] if _received else signal.SIGINT
