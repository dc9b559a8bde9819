"""virtkit's secret-* commands against Debian's virsh 9.0, on the same daemon: libvirtd
9.0's secret driver and virtkitd's.

Each case is one ';' batch run through both tools against one daemon (emptied of
secrets before each run); output, errors and exit status must agree.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import virtkit
from virtkit.testing.peers import libvirtd_available, start_virtkitd

sys.path.insert(0, str(Path(__file__).parent))
from test_virsh_compat import VIRSH, _run, _virtkit_argv

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.interop, pytest.mark.timeout(300)]

U1 = "0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f"
U2 = "7d8b2f3e-7c63-4a39-9f1c-2a7b0c1d4e5f"
U3 = "c3f4a1b2-1111-4222-8333-944455556666"
FILES = {
    "s1.xml": f"<secret ephemeral='no' private='no'><uuid>{U1}</uuid>"
              "<description>disk key</description><usage type='volume'>"
              "<volume>/var/lib/libvirt/images/s1.img</volume></usage></secret>",
    "private.xml": f"<secret ephemeral='no' private='yes'><uuid>{U2}</uuid>"
                   "<usage type='ceph'><name>client.admin key</name></usage></secret>",
    "ephemeral.xml": f"<secret ephemeral='yes' private='no'><uuid>{U3}</uuid>"
                     "<usage type='iscsi'><target>libvirtiscsi</target></usage></secret>",
    "unused.xml": "<secret ephemeral='no' private='no'>"
                  "<uuid>11111111-2222-3333-4444-555555555555</uuid></secret>",
    "bad.xml": "<secret><usage type='volume'></usage></secret>",
    "notxml.xml": "<secret",
    "value.b64": "c2VjcmV0IHZhbHVl\n",
    "value.raw": "raw bytes\x01\x02",
    "big.raw": "x" * 1025,
}

CASES = [
    f"secret-define s1.xml; secret-list; secret-dumpxml {U1}; "
    f"secret-set-value {U1} --base64 aGVsbG8=; secret-get-value {U1}; "
    f"secret-get-value {U1} --plain; secret-undefine {U1}; secret-list",
    f"secret-define s1.xml; secret-set-value {U1} --file value.b64; secret-get-value {U1}; "
    f"secret-set-value --secret {U1} --file value.raw --plain; secret-get-value {U1} --plain",
    f"secret-define s1.xml; secret-set-value {U1} --file value.b64 --base64 eA==",
    f"secret-define s1.xml; secret-set-value {U1} --interactive --plain",
    f"secret-define s1.xml; secret-set-value {U1} --interactive --file value.raw",
    f"secret-define s1.xml; secret-set-value {U1}",
    f"secret-define s1.xml; secret-set-value {U1} --file missing.raw",
    f"secret-define s1.xml; secret-set-value {U1} --file big.raw --plain",
    f"secret-define s1.xml; secret-get-value {U1}",
    f"secret-define private.xml; secret-set-value {U2} --base64 aGVsbG8=; "
    f"secret-get-value {U2}; secret-dumpxml {U2}",
    f"secret-dumpxml {U1}; secret-undefine {U1}; secret-get-value {U1}",
    "secret-dumpxml not-a-uuid; secret-undefine 1234",
    "secret-define bad.xml; secret-define notxml.xml; secret-define missing.xml",
    "secret-define s1.xml; secret-define private.xml; secret-define ephemeral.xml; "
    "secret-define unused.xml; secret-list; secret-list --private; secret-list --no-private; "
    "secret-list --ephemeral; secret-list --no-ephemeral --no-private",
    f"secret-define s1.xml; secret-dumpxml {U1} --xpath //usage/volume; "
    f"secret-dumpxml {U1} --xpath //description --wrap",
    "help secret; help secret-set-value; help secret-list; help secret-get-value",
    "secret-dumpxml; secret-set-value; secret-list --bogus",
]


@pytest.fixture(scope="module")
def daemons() -> Iterator[dict[str, str]]:
    """The URIs: libvirtd's qemu:///system (secret driver) and virtkitd's."""
    if not libvirtd_available():
        pytest.fail("Debian's libvirtd is missing: make test installs it (scripts/sysdeps.py)")
    sys.path.insert(0, str(REPO / "bench"))
    import qemu_peers  # type: ignore[import-not-found]

    root = Path(tempfile.mkdtemp(prefix="vk-secret-cli-"))
    lv = qemu_peers.start_libvirtd_qemu(root / "libvirtd", extra_modules=("secret",))
    try:
        vk = start_virtkitd(root / "virtkitd")
        try:
            yield {"libvirtd": lv.uri, "virtkitd": vk.uri("unix", "/system", "secret")}
        finally:
            vk.stop()
    finally:
        lv.stop()
        shutil.rmtree(root, ignore_errors=True)


def _empty(uri: str) -> None:
    with virtkit.open(uri) as conn:
        for secret in conn.list_secrets():
            secret.undefine()


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _both(uri: str, batch: str, cwd: Path, *options: str) -> tuple[tuple[str, int], ...]:
    out = []
    for argv in ([VIRSH], _virtkit_argv()):
        _empty(uri)
        out.append(_run([*argv, "-c", uri, *options, batch], {}, cwd))
    _empty(uri)
    return tuple(out)


@pytest.mark.parametrize("peer", ["libvirtd", "virtkitd"])
@pytest.mark.parametrize("batch", CASES, ids=[f"{i:02d}" for i in range(len(CASES))])
def test_same_as_virsh(peer: str, batch: str, daemons: dict[str, str],
                       tmp_path: Path) -> None:
    assert VIRSH is not None, "Debian's virsh (libvirt-clients) must be installed"
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    want, got = _both(daemons[peer], batch, tmp_path)
    assert got == want, f"batch: {batch}"


def test_read_only(daemons: dict[str, str], tmp_path: Path) -> None:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    uri = daemons["virtkitd"]
    batch = f"secret-list; secret-define s1.xml; secret-undefine {U1}"
    want, got = _both(uri, batch, tmp_path, "-r")
    assert got == want
    assert "read only access prevents virSecretDefineXML" in got[0]


def test_generated_uuid_is_printed(daemons: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "new.xml").write_text("<secret><usage type='tls'><name>t</name></usage></secret>")
    uri = daemons["virtkitd"]
    _empty(uri)
    out, rc = _run([*_virtkit_argv(), "-c", uri, "secret-define new.xml; secret-list"], {},
                   tmp_path)
    made = _UUID.findall(out)
    assert rc == 0 and len(made) == 2 and made[0] == made[1]
    _empty(uri)


def test_list_json(daemons: dict[str, str], tmp_path: Path) -> None:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    uri = daemons["virtkitd"]
    _empty(uri)
    try:
        out = subprocess.run(
            [*_virtkit_argv(), "-c", uri, "secret-define s1.xml; secret-define unused.xml; "
             "secret-define private.xml"], cwd=tmp_path, capture_output=True, text=True,
            timeout=60, check=True)
        out = subprocess.run([*_virtkit_argv(), "-c", uri, "secret-list", "--json"],
                             capture_output=True, text=True, timeout=60, check=True)
        assert json.loads(out.stdout) == [
            {"uuid": U1, "usage": "volume", "usage_id": "/var/lib/libvirt/images/s1.img"},
            {"uuid": "11111111-2222-3333-4444-555555555555", "usage": "none",
             "usage_id": None},
            {"uuid": U2, "usage": "ceph", "usage_id": "client.admin key"},
        ]
        out = subprocess.run([*_virtkit_argv(), "-c", uri, "secret-list", "--private",
                              "--json"], capture_output=True, text=True, timeout=60, check=True)
        assert [s["uuid"] for s in json.loads(out.stdout)] == [U2]
    finally:
        _empty(uri)


EVENT_BATCH = (f"secret-event --list; secret-event --event value-changed --timeout 1; "
               f"secret-event --event lifecycle --secret {U1} --timeout 1; "
               "secret-event --event nope; secret-event; secret-event --event lifecycle "
               "--timeout 0")


def test_secret_event_as_virsh_on_the_embedded_driver(tmp_path: Path) -> None:
    """secret-event against secret:///embed (each tool its own root; no event comes, so
    each wait ends at its one-second --timeout)."""
    outs = []
    for tool, argv in (("virsh", [VIRSH]), ("virtkit", _virtkit_argv())):
        root = tmp_path / tool
        root.mkdir()
        outs.append(_run([*argv, "-c", f"secret:///embed?root={root}", EVENT_BATCH], {},
                         tmp_path))
    assert outs[1] == outs[0]
    assert "events received: 0" in outs[1][0]


def test_secret_event_prints_what_arrives(tmp_path: Path) -> None:
    """The library's secret events through the CLI's printer (embedded driver, one
    process): one-shot secret-event waits while another thread defines and undefines a
    secret until the command has printed the first event and returned."""
    import io
    import threading
    import time

    from virtkit.cli.framework import Ctl, parse_command
    from virtkit.cli.main import lookup

    uri = f"secret:///embed?root={tmp_path}"
    out = io.StringIO()
    ctl = Ctl(uri, out=out, err=io.StringIO())
    ctl.connect()
    results: list[bool] = []
    try:
        cmd = parse_command(["secret-event", "--event", "lifecycle", "--timeout", "60"],
                            lookup)
        waiter = threading.Thread(target=lambda: results.append(
            cmd.definition.handler(ctl, cmd)))
        waiter.start()
        with virtkit.open(uri) as conn:
            for _ in range(600):  # hang guard only: ends as soon as the command returns
                if not waiter.is_alive():
                    break
                conn.define_secret(FILES["s1.xml"]).undefine()
                time.sleep(0.05)
        waiter.join(60)
    finally:
        ctl.close()
    assert results == [True]
    assert re.fullmatch(f"event 'lifecycle' for secret {U1}: (Defined|Undefined)\n"
                        "events received: 1\n", out.getvalue()), out.getvalue()


def test_same_as_virsh_on_a_driver_without_secrets(tmp_path: Path) -> None:
    """test:///default has no secret driver: the old-API fallback and its errors."""
    batch = (f"secret-list; secret-list --private; secret-dumpxml {U1}; "
             f"secret-set-value {U1} --base64 eA==; secret-undefine {U1}")
    outs = [_run([*argv, "-c", "test:///default", batch], {}, tmp_path)
            for argv in ([VIRSH], _virtkit_argv())]
    assert outs[1] == outs[0]
    assert "Filtering is not supported by this libvirt" in outs[1][0]
