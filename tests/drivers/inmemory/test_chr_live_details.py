"""Character-device details only live XML carries, test driver vs libvirt's (test:///default).

libvirt's test driver parses every definition with VIR_DOMAIN_DEF_PARSE_INACTIVE: a
pty's ``<source path>`` and a virtio channel's ``state`` are not kept, a console's
``tty`` is never read, so none of them comes back in the inactive or the live XML.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_differential import _compare, _libvirt_results
from vk_runner import run_script

DOM = ("<domain type='test'><name>{name}</name><uuid>{uuid}</uuid><memory>131072</memory>"
       "<os><type>hvm</type></os>"
       "<devices><serial type='pty'><source path='/dev/pts/7'/></serial>"
       "<console type='pty' tty='/dev/pts/9'><source path='/dev/pts/7'/></console>"
       "<console type='pty'><source path='/dev/pts/8'/><target type='virtio'/></console>"
       "<channel type='unix'><source mode='bind' path='/tmp/agent.sock'/>"
       "<target type='virtio' name='org.qemu.guest_agent.0' state='connected'/></channel>"
       "<channel type='pty'><source path='/dev/pts/6'/>"
       "<target type='virtio' name='org.example.0' state='disconnected'/></channel>"
       "</devices></domain>")
pytestmark = pytest.mark.interop  # libvirt-python in a subprocess: make test, not make check

U1, U2 = "0b6c2a64-3f0e-4f55-8f6e-1f2d3c4b5a01", "0b6c2a64-3f0e-4f55-8f6e-1f2d3c4b5a02"


def _script() -> list[list[Any]]:
    return [
        ["define", DOM.format(name="chr", uuid=U1)], ["xml", "chr"], ["create", "chr"],
        ["xml", "chr"], ["xml", "chr", 2], ["destroy", "chr"], ["undefine", "chr"],
        ["createxml", DOM.format(name="chr2", uuid=U2)], ["xml", "chr2"], ["destroy", "chr2"],
    ]


def test_pty_paths_channel_state_and_tty_as_libvirt_test_driver() -> None:
    script = _script()
    theirs = _libvirt_results(script)
    ours = run_script(script)
    _compare(script, theirs, ours, "virtkit")
    live = ours[3]["ok"]
    assert "/dev/pts/" not in live and "state=" not in live and "tty=" not in live
