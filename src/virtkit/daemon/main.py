"""``virtkitd``: the daemon entry point.

The RPC daemon is issue 3's work (libvirt's wire protocol, sockets, auth).
Until it lands, the command exists so the console script is not broken, and
says plainly that it cannot serve yet.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Report that the daemon is not available yet and exit with status 1."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-V", "--version"):
        from importlib.metadata import version

        print(f"virtkitd (virtkit) {version('virtkit')}")
        return 0
    sys.stderr.write(
        "virtkitd: the RPC daemon is not part of this build yet; "
        "use the library or the CLI with a local URI such as test:///default\n"
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
