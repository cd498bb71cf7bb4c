"""The terminating signals as interrupts that remember which signal came.

Python raises ``KeyboardInterrupt`` on SIGINT and dies silently on SIGTERM and SIGHUP.
:func:`interrupts` makes each of :data:`SIGNALS` raise an interrupt (:class:`Interrupted`, a
``KeyboardInterrupt`` that carries its signal), so that a run stops as cleanly on any of them
and ends with exit code 128 + the signal's number; :func:`signal_of` says which signal an
interrupt came from. The signal is also recorded here, because Ray's waits turn any interrupt
raised inside them into a plain ``KeyboardInterrupt``. SIGKILL cannot be caught (exit 137, no
line); what it leaves is resumed like any interrupt.

:func:`deferred` holds interrupts back while code that an exception must not cut runs, and
raises the interrupt when the block ends: importing torch, numpy or Ray (an interrupt raised
inside their imports was swallowed, and the sweep ran to its end with exit code 0) and
starting and stopping Ray (an interrupt inside ``ray.init`` hung the driver, or was dropped).
Cutting a C extension's import or Ray's start half way is also the likely source of the
reported crash at exit (SIGSEGV after the line was printed), which
:func:`cli.__main__.run` guards against too by leaving without the interpreter's finalisers
once the interrupted command has cleaned up. Standard library only: the
command line installs it for every command, before it imports anything else.
"""

from __future__ import annotations

import contextlib
import signal
import threading

# The signals a run stops on in one line; exit code 128 + the signal's number.
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_received: list[int] = []
_held: list[int] = []  # signals that came inside deferred(), not yet raised
_depth = [0]  # nesting of deferred()


class Interrupted(KeyboardInterrupt):
    """A terminating signal, raised where the program was."""

    def __init__(self, signum: int):
        super().__init__()
        self.signum = signum


def _raise(signum: int):
    raise Interrupted(signum) if signum != signal.SIGINT else KeyboardInterrupt()


def _on_signal(signum, frame):
    _received.append(signum)
    if _depth[0]:
        _held.append(signum)
        return
    _raise(signum)


@contextlib.contextmanager
def interrupts():
    """While inside, each of :data:`SIGNALS` raises an interrupt (main thread only; elsewhere
    a no-op; inside another ``interrupts()``, the outer one's)."""
    installed = all(signal.getsignal(s) is _on_signal for s in SIGNALS)
    if installed or threading.current_thread() is not threading.main_thread():
        yield  # already installed by an outer call (or not the main thread)
        return
    previous = {s: signal.signal(s, _on_signal) for s in SIGNALS}
    del _received[:], _held[:]
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)


@contextlib.contextmanager
def deferred():
    """Interrupts that come inside are raised when the block ends (instead of what it raised,
    if it raised)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth[0] += 1
    try:
        yield
    except BaseException:
        _depth[0] -= 1
        if _depth[0] or not _held:
            raise
        signum = _held[-1]
        del _held[:]
        _raise(signum)  # the interrupt asked for, instead of what the cut code raised
    _depth[0] -= 1
    if not _depth[0] and _held:
        signum = _held[-1]
        del _held[:]
        _raise(signum)


def signal_of(error: BaseException) -> int:
    """The signal behind an interrupt: its own, else the last one received, else SIGINT."""
    signum = getattr(error, "signum", None)
    if signum is not None:
        return signum
    return _received[-1] if _received else signal.SIGINT
