"""net-event with virtkit's own network driver (embedded, in process): the events of another
connection to the same root. Define and undefine only: they need no bridge, so no namespace."""

from __future__ import annotations

import io
import re
import threading
import time
from pathlib import Path

import virtkit
from virtkit.cli import main as cli_main
from virtkit.cli.framework import Ctl

NET_XML = "<network><name>vkev</name><bridge name='vkev0'/></network>"


def _watch(root: Path, batch: str, act: str) -> tuple[str, str, bool]:
    """Run ``batch`` (one net-event) while a second connection defines, then undefines,
    network vkev (``act``: "define" or "both"); returns (stdout, stderr, ok)."""
    uri = f"qemu:///embed?root={root}"
    out, err = io.StringIO(), io.StringIO()
    ctl = Ctl(uri=uri, out=out, err=err)
    ctl.connect()
    result: list[bool] = []
    thread = threading.Thread(
        target=lambda: result.append(cli_main.run(ctl, cli_main.parse_commands([batch])))
    )
    try:
        thread.start()
        deadline = time.monotonic() + 10
        while not ctl.conn._event_handles and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ctl.conn._event_handles, "net-event did not register"
        other = virtkit.open(uri)
        try:
            net = other.define_network(NET_XML)
            if act == "both":
                net.undefine()
        finally:
            other.close()
        thread.join(30)
        assert not thread.is_alive()
    finally:
        ctl.close()
    return out.getvalue(), err.getvalue(), result[0]


def test_define_undefine_loop(tmp_path: Path) -> None:
    out, err, ok = _watch(tmp_path, "net-event --event lifecycle --loop --timeout 2", "both")
    assert (out, err, ok) == (
        "event 'lifecycle' for network vkev: Defined\n"
        "event 'lifecycle' for network vkev: Undefined\n"
        "event loop timed out\n"
        "events received: 2\n\n",
        "",
        True,
    )


def test_one_shot_with_timestamp(tmp_path: Path) -> None:
    out, err, ok = _watch(tmp_path, "net-event --event lifecycle --timestamp --timeout 20", "both")
    assert ok and err == ""
    first, rest = out.split("\n", 1)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+0000: "
        r"event 'lifecycle' for network vkev: Defined",
        first,
    )
    assert rest == "events received: 1\n\n"
