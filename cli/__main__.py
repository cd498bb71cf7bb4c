"""``python -m cli`` and the ``lola-arena`` command (:func:`run`)."""

import os
import sys

from sweeps.signals import interrupts, signal_of


def run() -> None:
    """Run the command line with the terminating signals handled from the first instant: the
    handlers are installed before the command line's modules are imported, so a signal at any
    point of start-up ends in one line and exit code 128 + its number (see
    :mod:`sweeps.signals`). The process runs this one command (``fresh_process``: a sweep
    starts Ray while it imports the engine) and ends as soon as it is done."""
    with interrupts():
        try:
            from cli.main import main

            code = main(fresh_process=True)
        except KeyboardInterrupt as error:  # before a command ran: importing, parsing
            print("lola-arena: interrupted", file=sys.stderr)
            code = 128 + signal_of(error)
    # The command is done: what it wrote is closed (a sweep's files whole and on disk) and Ray
    # is disconnected. Leave without running the interpreter's finalisers: tearing down
    # torch's, pandas' and Ray's modules takes a second or more (a fifth of a small sweep), and
    # after an interrupt they may meet a library's threads cut mid-start.
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away after the last line: as SIGPIPE ends a tool
        code = code or 128 + 13
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
