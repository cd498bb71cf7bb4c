"""``python -m cli`` and the ``lola-arena`` command (:func:`run`)."""

import os
import sys

from sweeps.signals import interrupts, signal_of


def run() -> None:
    """Run the command line with the terminating signals handled from the first instant: the
    handlers are installed before the command line's modules are imported, so a signal at any
    point of start-up ends in one line and exit code 128 + its number (see
    :mod:`sweeps.signals`)."""
    with interrupts():
        try:
            from cli.main import main

            code = main(fresh_process=True)
        except KeyboardInterrupt as error:  # before a command ran: importing, parsing
            print("lola-arena: interrupted", file=sys.stderr)
            code = 128 + signal_of(error)
    if code > 128:
        # Interrupted: everything is stored and Ray is shut down. Leave without running the
        # interpreter's finalisers, which may meet a library's threads cut mid-start.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
