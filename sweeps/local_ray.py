"""The driver's Ray: a cluster's, or a local Ray started, and stopped, by this process.

:func:`connect` connects to a cluster (``address`` or ``RAY_ADDRESS``), reuses a Ray already
initialised in this process (e.g. by a test fixture), or starts a local Ray (``ray.init`` with
the machine's CPUs and token authentication, its WARNING filtered) and the watchdog of its
processes (:mod:`sweeps.reaper`). :class:`DriverRay` is the result; :meth:`DriverRay.stop`
disconnects and, for a local Ray, leaves its processes to the watchdog: it ends them all at
once in the background (SIGTERM, SIGKILL after :data:`sweeps.reaper.GRACE_S`), where
``ray.shutdown`` would end them one after another, waiting up to a second for each (about
1 to 1.5 s a run, for nothing: every result is stored by then).

:class:`EarlyStart` starts a local Ray on a thread, so that the command line in a fresh process
imports the engine and validates the sweep file (seconds, mostly torch's import) while Ray
starts (seconds, mostly waiting for its processes): ``lola-arena sweep`` then costs little more
than Ray itself. A sweep file that turns out bad stops that Ray again (after its one line).

Interrupts: an interrupt is raised once Ray has started, never inside ``ray.init`` (which it
can leave half built: the driver then hangs or crashes at exit); on a thread, ``ray.init`` is
out of the signals' reach anyway. Standard library at import; Ray is imported when used.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from dataclasses import dataclass

from sweeps import reaper, signals

AUTH_MODE = "RAY_AUTH_MODE"
TOKEN_LOGGER = "ray._private.authentication.authentication_token_setup"
WORKER_LOGGER = "ray._private.worker"


@dataclass
class DriverRay:
    """The Ray a run uses: whether this process ``started`` it (called ``ray.init``: a local
    Ray, or a connection to a cluster; it stops it), and the watchdog of a local Ray's
    processes (None for a cluster, or where there is no ``/proc``)."""

    started: bool
    watchdog: reaper.Watchdog | None = None
    stopped: bool = False

    def stop(self) -> None:
        """Disconnect from a Ray this process started, once; its processes are ended by the
        watchdog, without waiting (``ray.shutdown`` where there is no watchdog)."""
        if not self.started or self.stopped:
            return
        import ray

        self.stopped = True
        with signals.deferred():
            if self.watchdog is None:
                ray.shutdown()
                return
            self.watchdog.update()  # every process of this Ray, workers and agents included
            worker = getattr(getattr(ray, "_private", None), "worker", None)
            node = getattr(worker, "_global_node", None)
            if node is not None:  # Ray 2.x: without its node, ray.shutdown kills nothing
                worker._global_node = None
            try:
                if node is not None and node.is_head():
                    node.destroy_external_storage()  # spilled objects, as ray.shutdown does
                ray.shutdown()
            finally:
                self.watchdog.close()


def connect(address: str | None) -> DriverRay:
    """Connect to or start Ray (see the module docstring)."""
    import ray

    if ray.is_initialized():
        return DriverRay(started=False)
    address = address or os.environ.get("RAY_ADDRESS")
    watchdog = None if address else reaper.start()
    try:
        with signals.deferred(), _keep_sigterm_handler(ray):
            _start_ray(ray, address)
    except BaseException:  # e.g. interrupted while starting: stop what did start
        with signals.deferred():
            ray.shutdown()
        if watchdog:
            watchdog.update()
            watchdog.close()
        raise
    driver = DriverRay(started=True, watchdog=watchdog)
    if watchdog:
        watchdog.update()
    return driver


class EarlyStart:
    """A local Ray started on a thread (:meth:`start`) while this process does other work;
    :meth:`result` waits for it, :meth:`stop` stops it (both may be called more than once).

    The thread lives until :meth:`stop`: Ray's GCS server and raylet die with the thread that
    started them (Linux's parent-death signal, which Ray sets so that they follow a killed
    driver, is sent when the starting *thread* ends)."""

    def __init__(self):
        self._driver: DriverRay | None = None
        self._error: BaseException | None = None
        self._started, self._release = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._start, name="ray-start", daemon=True)

    @classmethod
    def start(cls, address: str | None) -> EarlyStart | None:
        """Start a local Ray on a thread; None where a run would not start one (a cluster's
        address is given or in ``RAY_ADDRESS``, or Ray is initialised in this process)."""
        if address or os.environ.get("RAY_ADDRESS"):
            return None
        with signals.deferred():  # an interrupt inside Ray's import is swallowed
            import ray
        if ray.is_initialized():
            return None
        early = cls()
        early._thread.start()
        return early

    def _start(self) -> None:
        try:
            self._driver = connect(None)
        except BaseException as error:  # handed to the thread that waits for this Ray
            self._error = error
        finally:
            self._started.set()
        self._release.wait()

    def result(self) -> DriverRay:
        """The started Ray, once started; the error that stopped its start, raised."""
        self._started.wait()
        if self._error is not None:
            raise self._error
        return self._driver

    def stop(self) -> None:
        with signals.deferred():
            self._started.wait()
            if self._driver is not None:
                self._driver.stop()
            self._release.set()
            self._thread.join()


@contextlib.contextmanager
def _keep_sigterm_handler(ray):
    """``ray.init`` replaces the SIGTERM handler with one that calls ``sys.exit`` wherever
    ``ray.init`` is: keep the caller's (the command line's defers the interrupt until Ray has
    started, :func:`sweeps.signals.deferred`). Ray 2.x installs it through
    ``ray._private.utils.set_sigterm_handler``, made a no-op here; should another Ray install
    it otherwise, its ``SystemExit`` is turned into the caller's handling and the caller's
    handler put back. (On a thread other than the main one, Ray installs none.)"""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    utils = getattr(getattr(ray, "_private", None), "utils", None)
    install = getattr(utils, "set_sigterm_handler", None)
    if install is not None and main:
        utils.set_sigterm_handler = lambda handler: None
    try:
        yield
    except SystemExit as error:  # Ray's handler, from a SIGTERM during ray.init
        if error.code != signal.SIGTERM or not callable(previous):
            raise
        previous(signal.SIGTERM, None)
    finally:
        if install is not None and main:
            utils.set_sigterm_handler = install
        if main and previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _start_ray(ray, address: str | None) -> None:
    if address:
        try:
            ray.init(address=address, logging_level=logging.WARNING)
        except ConnectionError as error:
            raise ValueError(
                f"address: cannot connect to Ray at {address!r} ({error}); a cluster with token "
                f"authentication needs {AUTH_MODE}=token and its token (RAY_AUTH_TOKEN or "
                f"~/.ray/auth_token)"
            ) from None
    else:
        # Ray turns token authentication on for a local Ray with a WARNING on every run:
        # keep it on, without the warning (a connection that fails says what to set); and
        # on a thread, it warns that it sets no SIGTERM handler: the command line has its own.
        token_setup, worker = logging.getLogger(TOKEN_LOGGER), logging.getLogger(WORKER_LOGGER)
        token_setup.addFilter(_below_error)  # a list append: no lock, safe under signals
        worker.addFilter(_not_sigterm_notice)
        try:
            ray.init(
                num_cpus=os.cpu_count(), include_dashboard=False, logging_level=logging.WARNING
            )
        finally:
            token_setup.removeFilter(_below_error)
            worker.removeFilter(_not_sigterm_notice)


def _below_error(record: logging.LogRecord) -> bool:
    """A logging filter that keeps errors only."""
    return record.levelno >= logging.ERROR


def _not_sigterm_notice(record: logging.LogRecord) -> bool:
    """A logging filter that drops Ray's notice that it set no SIGTERM handler."""
    return not str(record.msg).startswith("SIGTERM handler is not set")
