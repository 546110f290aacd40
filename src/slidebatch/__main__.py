"""The ``slidebatch`` command's entry (``python -m slidebatch`` and the console script).

Kept free of imports so that a Ctrl-C while the CLI's modules load (the first half second)
ends with one line and exit 130, not a traceback of the import it cut.
"""

import sys

INTERRUPTED = "Interrupted before the command started: nothing done."


def run() -> None:
    """Load the CLI and run it; Ctrl-C while it loads exits 130 with one line.

    The commands handle their own Ctrl-C (and Typer turns one during parsing into exit
    130), so a KeyboardInterrupt reaching here came before any command started.
    """
    try:
        from slidebatch.cli import main

        main()
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    run()
