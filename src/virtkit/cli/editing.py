"""The ``edit`` loop (virsh-edit.c): temp file, $VISUAL / $EDITOR, redefine, ask to re-edit."""

from __future__ import annotations

import contextlib
import os
import re
import sys

from virtkit.cli.framework import Ctl

TYPE_CHECKING = False  # typing is not imported at run time (startup speed)
if TYPE_CHECKING:
    from collections.abc import Callable


_SAFE = re.compile(r"[A-Za-z0-9_./+-]*\Z")


def run_editor(ctl: Ctl, path: str) -> None:
    """Run the editor on ``path`` (raises ``VirtError`` as virCommand reports failures)."""
    import shlex
    import subprocess

    from virtkit.errors import VirtError

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    if _SAFE.match(editor):
        argv = [editor, path]
    else:
        if not _SAFE.match(path):
            raise VirtError(
                f"{path}: temporary filename contains shell meta or other "
                "unacceptable characters (is $TMPDIR wrong?)"
            )
        argv = ["sh", "-c", f"{editor} {shlex.quote(path)}"]
    shown = f"{editor} {path}"
    sys.stdout.flush()
    try:
        status = subprocess.call(argv)
    except OSError as exc:
        raise VirtError(
            f"Cannot run program '{editor}': {os.strerror(exc.errno or 0)}", code=38
        ) from None
    if status != 0:
        raise VirtError(
            f"internal error: Child process ({shown}) unexpected exit status {status}", code=1
        )


def _ask(ctl: Ctl, message: str, relax: bool) -> str | None:
    """vshAskReedit: None when stdin is not a terminal."""
    if not sys.stdin.isatty():
        return None
    choices = "[y,n,i,f,?]" if relax else "[y,n,f,?]"
    while True:
        ctl.print(f"{message} Try again? {choices}: ")
        ctl.out.flush()
        answer = sys.stdin.readline().strip().lower()[:1]
        if answer == "?":
            ctl.print("\ny - yes, start editor again\nn - no, throw away my changes\n")
            if relax:
                ctl.print("i - turn off validation and try to redefine again\n")
            ctl.print("f - force, try to redefine again\n? - print this help\n")
            continue
        if answer in ("y", "n", "f") or (relax and answer == "i"):
            return answer
        if not answer:
            return "n"


def edit_loop(
    ctl: Ctl,
    original: str,
    define: Callable[[str, bool], str],
    *,
    validate: bool,
    unchanged: str,
    changed: Callable[[str], str],
    reread: Callable[[], str] | None = None,
) -> bool:
    """Edit ``original``; ``define(xml, validate)`` returns the defined object's name."""
    import tempfile

    from virtkit.errors import VirtError

    fd, path = tempfile.mkstemp(prefix="virtkit", suffix=".xml")
    relax = validate
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(original)
        doc = original
        while True:
            run_editor(ctl, path)
            try:
                with open(path) as handle:
                    edited = handle.read()
            except OSError as exc:
                ctl.error(f"{path}: failed to read temporary file: {exc.strerror}")
                return False
            if edited == doc:
                ctl.print_extra(unchanged)
                return True
            while True:
                message: str | None = None
                error: VirtError | None = None
                current = reread() if reread is not None else doc
                if current != doc:
                    message = "The XML configuration was changed by another user."
                    doc = current
                name: str | None = None
                if message is None:
                    try:
                        name = define(edited, validate)
                    except VirtError as exc:
                        message, error = "Failed.", exc
                if message is None:
                    ctl.print_extra(changed(name or "(null)"))
                    return True
                choice = _ask(ctl, message, relax)
                if choice is not None and error is not None:
                    ctl.error(error.message)
                if choice == "y":
                    break
                if choice == "f":
                    continue
                if choice == "n":
                    return False
                if choice == "i":
                    validate = relax = False
                    continue
                # Not a terminal: virsh reports the message and carries on as if it had
                # succeeded, naming no domain.
                ctl.error(message)
                ctl.print_extra(changed("(null)"))
                return True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


_XML_INACTIVE = 1  # VIR_NETWORK_XML_INACTIVE == VIR_STORAGE_XML_INACTIVE
_INVALID_ARG = 8  # VIR_ERR_INVALID_ARG


def edit_object_xml(
    ctl: Ctl, label: str, name: str, get_xml: Callable[[int], str],
    define: Callable[[str], str],
) -> bool:
    """net-edit / pool-edit: edit the inactive XML of ``name`` and define the result.

    ``label`` starts virsh's messages ("Network", "Pool"); ``define`` returns the name.
    """
    from virtkit.errors import VirtError

    flags = _XML_INACTIVE
    try:
        original = get_xml(flags)
    except VirtError as exc:
        # As virsh: a driver refusing the INACTIVE flag is asked again without it.
        if exc.code != _INVALID_ARG:
            raise
        flags = 0
        original = get_xml(flags)
    return edit_loop(
        ctl,
        original,
        lambda xml, validate: define(xml),
        validate=False,
        unchanged=f"{label} {name} XML configuration not changed.\n",
        changed=lambda new_name: f"{label} {new_name} XML configuration edited.\n",
        reread=lambda: get_xml(flags),
    )
