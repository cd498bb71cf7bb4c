"""Ray's processes do not outlive a driver killed with SIGKILL.

A driver that starts a local Ray (``ray.init`` without an address) starts a GCS server, a raylet,
agents and workers as its descendants. When the driver is killed, the GCS server and raylet
follow it, but Ray's dashboard and runtime-env agents live on for a minute or more. So the
driver starts a watchdog (:func:`start`): a small process in its own session that reads the
driver's descendants, one ``pid start-time`` line each, from a pipe. When the pipe closes (the
driver has ended, however it ended), the watchdog sends SIGTERM to each listed process that
still runs (the same pid and start time: never a process that merely reused the pid), then
SIGKILL to what is left after :data:`GRACE_S`. Linux only (``/proc``); elsewhere there is no
watchdog.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

GRACE_S = 2.0
PROC = Path("/proc")


def start_time(pid: int) -> str | None:
    """The start time of ``pid`` (clock ticks since boot), or None when it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is fields[0]
    return None if fields[0] == "Z" else fields[19]


def descendants(pid: int) -> dict[int, str]:
    """Every live descendant of ``pid``: pid -> start time."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = {}, list(children.get(pid, []))
    while todo:
        child = todo.pop()
        started = start_time(child)
        if started is not None:
            found[child] = started
        todo.extend(children.get(child, []))
    return found


class Watchdog:
    """The driver's end of the watchdog: :meth:`update` sends the driver's descendants."""

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self.sent: set[int] = set()

    def update(self) -> None:
        found = descendants(os.getpid())
        lines = [f"{pid} {started}\n" for pid, started in found.items() if pid not in self.sent]
        lines = [line for line in lines if int(line.split()[0]) != self.process.pid]
        if lines:
            try:
                self.process.stdin.write("".join(lines))
                self.process.stdin.flush()
            except OSError:  # the watchdog is gone: nothing to do about it
                return
            self.sent.update(int(line.split()[0]) for line in lines)

    def close(self) -> None:
        """The driver is done: the watchdog ends what is left of its Ray, then exits."""
        with contextlib.suppress(OSError):
            self.process.stdin.close()


def start() -> Watchdog | None:
    """Start the watchdog of this process's descendants (None where there is no ``/proc``)."""
    if not (PROC / str(os.getpid()) / "stat").exists():
        return None
    process = subprocess.Popen(
        [sys.executable, "-m", "sweeps.reaper"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # a Ctrl-C to the terminal's process group does not stop it
    )
    return Watchdog(process)


def reap(listed: dict[int, str]) -> None:
    """SIGTERM each listed process that still runs, then SIGKILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [pid for pid, started in listed.items() if start_time(pid) == started]
        if not alive:
            return
        for pid in alive:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        deadline = time.monotonic() + GRACE_S
        while sig == signal.SIGTERM and time.monotonic() < deadline:
            if all(start_time(pid) != listed[pid] for pid in alive):
                return
            time.sleep(0.05)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listed = {}
    for line in sys.stdin:
        pid, started = line.split()
        listed[int(pid)] = started
    reap(listed)


if __name__ == "__main__":
    main()
