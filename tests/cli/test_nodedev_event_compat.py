"""nodedev-event's option handling against Debian's virsh 9.0 on test:///default: listing,
refused options, a device that does not exist, and watching with nothing to report (the
events themselves, over virtkitd: tests/daemon/test_nodedev_events.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_virsh_compat import URI, VIRSH, _mask, _run, _virtkit_argv

pytestmark = pytest.mark.interop

CASES = [
    "help nodedev-event; nodedev-event --list",
    "nodedev-event --list --event bogus --timeout 0",
    "nodedev-event",
    "nodedev-event --event bogus --device nope",
    "nodedev-event --event ''",
    "nodedev-event --event lifecycle --timeout 0",
    "nodedev-event --event lifecycle --timeout x",
    "nodedev-event --event lifecycle --device ''",
    "nodedev-event --event lifecycle --device nope --timeout 1",
    "nodedev-event --event update --device scsi_host2,x --timeout 1",
    "nodedev-event --event lifecycle --device computer --loop --timestamp --timeout 1",
    "nodedev-event --event update --timeout 1; nodedev-event --list",
]


@pytest.mark.parametrize("batch", CASES, ids=[f"{i:02d}" for i in range(len(CASES))])
def test_same_as_virsh(batch: str, tmp_path: Path) -> None:
    assert VIRSH is not None, "Debian's virsh (libvirt-clients) must be installed"
    want, want_rc = _run([VIRSH, "-c", URI, batch], {}, tmp_path)
    got, got_rc = _run([*_virtkit_argv(), "-c", URI, batch], {}, tmp_path)
    assert _mask(got) == _mask(want), f"batch: {batch}"
    assert got_rc == want_rc, f"batch: {batch}"
