"""LUKS-encrypted disks in the QEMU driver.

The command line: the passphrase reaches QEMU only AES-256-CBC-encrypted under the domain's
master key (``-object secret,id=masterKey0,file=...`` and one ``secret`` object per disk,
as libvirt's qemuDomainSecretAESSetup), the format node names it in ``key-secret``.
End to end (slow): virtkitd makes a LUKS volume with a passphrase from its secret driver,
the test guest boots with that volume as its disk and writes its marker through QEMU's
decryption; after a daemon restart the secret still opens it; the passphrase is nowhere
in clear in the daemon's files, log or QEMU's command line.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from qemu_e2e import QemuRoot, console_log, domain_xml, qemu_pids, wait_marker

import virtkit
from virtkit.conf.domain import DomainDef
from virtkit.drivers.qemu.command import CommandContext, build
from virtkit.drivers.secret.node import SecretNode
from virtkit.drivers.secret.paths import SecretPaths
from virtkit.errors import ErrorCode, VirtError
from virtkit.testing.peers import start_virtkitd

QEMU = "/usr/bin/qemu-system-x86_64"
SECRET = "0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f"
PASS = b"e2e-luks-passphrase-71d0c"


def ctx(run: Path, secrets: SecretNode | None) -> CommandContext:
    return CommandContext(emulator=QEMU, qmp_socket=str(run / "qmp.sock"),
                          pid_file=str(run / "qemu.pid"), log_file=str(run / "log"),
                          runtime_dir=str(run), kvm_available=False, start_paused=True,
                          secrets=secrets)


def disk(path: str, fmt: str, enc: str, dev: str = "vda") -> str:
    return (f"<disk type='file' device='disk'><driver name='qemu' type='{fmt}'/>"
            f"<source file='{path}'>{enc}</source><target dev='{dev}' bus='virtio'/></disk>")


def luks(ref: str = f"uuid='{SECRET}'") -> str:
    return f"<encryption format='luks'><secret type='passphrase' {ref}/></encryption>"


def domain(disks: str) -> DomainDef:
    return DomainDef.from_xml(
        "<domain type='qemu'><name>enc</name><memory unit='MiB'>128</memory>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os>"
        f"<devices>{disks}</devices></domain>")


@pytest.fixture
def secrets(tmp_path: Path) -> SecretNode:
    node = SecretNode(SecretPaths.embed(str(tmp_path / "root")))
    from virtkit.conf.secret import SecretDef

    node.define(SecretDef.from_xml(
        f"<secret private='yes'><uuid>{SECRET}</uuid>"
        "<usage type='volume'><volume>/images/a.qcow2</volume></usage></secret>"))
    node.set_value(SECRET, PASS)
    return node


def objects(argv: list[str]) -> list[dict[str, Any]]:
    return [json.loads(argv[i + 1]) for i, a in enumerate(argv)
            if a == "-object" and argv[i + 1].startswith("{")]


def decrypt(obj: dict[str, Any], key: bytes) -> bytes:
    dec = Cipher(algorithms.AES(key), modes.CBC(base64.b64decode(obj["iv"]))).decryptor()
    padded = dec.update(base64.b64decode(obj["data"])) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def test_the_passphrase_reaches_qemu_only_encrypted(tmp_path: Path,
                                                    secrets: SecretNode) -> None:
    run = tmp_path / "run"
    run.mkdir()
    d = domain(disk("/images/a.qcow2", "qcow2", luks())
               + disk("/images/b.luks", "raw", luks("usage='/images/a.qcow2'"), "vdb")
               + disk("/images/plain.raw", "raw", "", "vdc"))
    argv = build(d, ctx(run, secrets)).argv
    assert not any(PASS.decode() in a or base64.b64encode(PASS).decode() in a for a in argv)
    objs = objects(argv)
    assert objs[0] == {"qom-type": "secret", "id": "masterKey0", "format": "raw",
                       "file": str(run / "master-key.aes")}
    assert argv.index("-S") < argv.index(json.dumps(objs[0], separators=(",", ":"))) \
        < argv.index("-machine")
    key = (run / "master-key.aes").read_bytes()
    assert len(key) == 32 and (run / "master-key.aes").stat().st_mode & 0o777 == 0o600
    secret_objs = [o for o in objs if o["id"].endswith("-encryption-secret0")]
    assert [o["id"] for o in secret_objs] == ["libvirt-3-format-encryption-secret0",
                                              "libvirt-2-format-encryption-secret0"]
    for o in secret_objs:
        assert (o["qom-type"], o["keyid"], o["format"]) == ("secret", "masterKey0", "base64")
        assert decrypt(o, key) == PASS
    assert secret_objs[0]["iv"] != secret_objs[1]["iv"]
    blockdevs = [json.loads(argv[i + 1]) for i, a in enumerate(argv) if a == "-blockdev"]
    fmt_nodes = {b["node-name"]: b for b in blockdevs if "file" in b}
    assert fmt_nodes["libvirt-3-format"]["driver"] == "qcow2"
    assert fmt_nodes["libvirt-3-format"]["encrypt"] == {
        "format": "luks", "key-secret": "libvirt-3-format-encryption-secret0"}
    assert fmt_nodes["libvirt-2-format"]["driver"] == "luks"  # raw + LUKS: the luks driver
    assert fmt_nodes["libvirt-2-format"]["key-secret"] == "libvirt-2-format-encryption-secret0"
    assert fmt_nodes["libvirt-1-format"]["driver"] == "raw"
    # the secret object comes right before its disk's nodes
    sec = argv.index(json.dumps(secret_objs[0], separators=(",", ":")))
    assert argv[sec + 1] == "-blockdev" and '"libvirt-3-storage"' in argv[sec + 2]
    # a second build (a re-attach) keeps the master key QEMU was started with
    build(d, ctx(run, secrets))
    assert (run / "master-key.aes").read_bytes() == key


def test_without_the_secret_driver_only_the_names_are_built(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    cmd = build(domain(disk("/images/a.qcow2", "qcow2", luks())), ctx(run, None))
    assert cmd.disks["vda"].format_node == "libvirt-1-format"
    assert [o["id"] for o in objects(cmd.argv)] == ["masterKey0", "pc.ram"]
    assert not (run / "master-key.aes").exists()


@pytest.mark.parametrize(("enc", "fmt", "code", "message"), [
    (luks("uuid='00000000-0000-0000-0000-000000000001'"), "qcow2", ErrorCode.NO_SECRET,
     "Secret not found: no secret with matching uuid '00000000-0000-0000-0000-000000000001'"),
    (luks("usage='/nowhere'"), "qcow2", ErrorCode.NO_SECRET,
     "Secret not found: no secret with matching usage '/nowhere'"),
    (f"<encryption format='qcow'><secret type='passphrase' uuid='{SECRET}'/></encryption>",
     "qcow2", ErrorCode.CONFIG_UNSUPPORTED,
     "unsupported configuration: old qcow/qcow2 encryption is not supported"),
    (f"<encryption format='luks2'><secret type='passphrase' uuid='{SECRET}'/></encryption>",
     "qcow2", ErrorCode.CONFIG_UNSUPPORTED,
     "unsupported configuration: luks2 is currently not supported by the qemu encryption "
     "engine"),
    (f"<encryption format='luks'><secret type='passphrase' uuid='{SECRET}'/>"
     "<cipher name='aes' size='256'/></encryption>", "qcow2", ErrorCode.CONFIG_UNSUPPORTED,
     "unsupported configuration: supplying <cipher> for domain disk definition is "
     "unnecessary"),
])
def test_bad_encryption_is_refused(tmp_path: Path, secrets: SecretNode, enc: str, fmt: str,
                                   code: int, message: str) -> None:
    with pytest.raises(VirtError) as exc:
        build(domain(disk("/images/a.qcow2", fmt, enc)), ctx(tmp_path, secrets))
    assert (exc.value.code, str(exc.value)) == (code, message)


def test_a_secret_without_a_value_is_refused(tmp_path: Path, secrets: SecretNode) -> None:
    secrets.set_value(SECRET, b"x")
    from virtkit.conf.secret import SecretDef

    other = "0a81f5b2-8403-7b23-c8d6-21ccc2f80d70"
    secrets.define(SecretDef.from_xml(f"<secret><uuid>{other}</uuid></secret>"))
    with pytest.raises(VirtError) as exc:
        build(domain(disk("/i/a.qcow2", "qcow2", luks(f"uuid='{other}'"))),
              ctx(tmp_path, secrets))
    assert str(exc.value) == f"Secret not found: secret '{other}' does not have a value"


# --------------------------------------------------------------------------- end to end


def _plain_head(path: Path, passphrase: bytes, tmp: Path) -> bytes:
    """The first sector the guest sees, read from the image with ``passphrase``."""
    key, out = tmp / "k", tmp / "plain.raw"
    key.write_bytes(passphrase)
    try:
        subprocess.run(["qemu-img", "convert", "-U", "--object", f"secret,id=k,file={key}",
                        "--image-opts",
                        f"driver=qcow2,encrypt.key-secret=k,file.filename={path}",
                        "-O", "raw", str(out)], check=True, capture_output=True)
    finally:
        key.unlink()
    with open(out, "rb") as f:
        head = f.read(512)
    out.unlink()
    return head


@pytest.mark.slow
def test_a_guest_boots_from_a_luks_volume_across_a_daemon_restart(
        guest: Any, qroot: QemuRoot, tmp_path: Path) -> None:
    root = qroot.path
    pool_dir = root / "images"
    pool_dir.mkdir()
    daemon = start_virtkitd(root)
    conns: list[Any] = []
    try:
        uri = daemon.uri("unix", "/system", "qemu")
        conn = virtkit.open(uri)
        conns.append(conn)
        sec = conn.tables.secret
        s = sec.secret_define_xml(
            f"<secret ephemeral='no' private='yes'><uuid>{SECRET}</uuid><usage type='volume'>"
            f"<volume>{pool_dir}/vm.qcow2</volume></usage></secret>")
        sec.secret_set_value(s, PASS)
        st = conn.tables.storage
        pool = st.storage_pool_define_xml(
            f"<pool type='dir'><name>images</name><target><path>{pool_dir}</path></target>"
            "</pool>")
        st.storage_pool_create(pool)
        st.storage_pool_set_autostart(pool, True)
        st.storage_vol_create_xml(pool, (
            "<volume><name>vm.qcow2</name><capacity unit='MiB'>64</capacity><target>"
            f"<format type='qcow2'/>{luks()}</target></volume>"))
        xml = domain_xml(guest, root, "luksvm").replace(
            "<interface type='user'>",
            "<disk type='volume' device='disk'><driver name='qemu' type='qcow2'/>"
            f"<source pool='images' volume='vm.qcow2'>{luks()}</source>"
            "<target dev='vda' bus='virtio'/></disk><interface type='user'>")
        dom = conn.define_domain(xml)
        dom.start()
        wait_marker(console_log(root, "luksvm"), guest.DISK_OK_MARKER, timeout=60)
        for pid in qemu_pids(str(root)):  # QEMU's argv carries no passphrase
            argv = Path(f"/proc/{pid}/cmdline").read_bytes()
            assert PASS not in argv and base64.b64encode(PASS) not in argv
        dom.destroy()
        image = pool_dir / "vm.qcow2"
        assert guest.DISK_MARKER.encode() not in image.read_bytes()  # encrypted at rest
        assert _plain_head(image, PASS, tmp_path).startswith(guest.DISK_MARKER.encode())

        for c in conns:
            c.close()
        conns.clear()
        daemon.stop()
        daemon = start_virtkitd(root)  # the secret must still open the volume
        uri = daemon.uri("unix", "/system", "qemu")
        conn = virtkit.open(uri)
        conns.append(conn)
        log = console_log(root, "luksvm")
        log.unlink()
        _wait_pool_active(conn)
        conn.lookup_domain("luksvm").start()
        wait_marker(log, guest.DISK_OK_MARKER, timeout=60)
        # a restart while it runs: the daemon re-attaches to the encrypted guest
        conn.close()
        conns.clear()
        daemon.stop()
        daemon = start_virtkitd(root)
        conn = virtkit.open(daemon.uri("unix", "/system", "qemu"))
        conns.append(conn)
        assert conn.lookup_domain("luksvm").is_active()
        conn.lookup_domain("luksvm").destroy()
    finally:
        for c in conns:
            with contextlib.suppress(Exception):
                c.close()
        daemon.stop()
    encoded = (PASS, base64.b64encode(PASS), PASS.hex().encode())
    checked = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            checked += 1
            assert not any(e in data for e in encoded), f"passphrase in clear in {path}"
    assert checked > 5 and (root / "virtkitd.log").is_file()


def _wait_pool_active(conn: Any) -> None:
    deadline = time.monotonic() + 30
    st = conn.tables.storage
    while time.monotonic() < deadline:
        with contextlib.suppress(VirtError):
            pool = st.storage_pool_lookup_by_name("images")
            if st.storage_pool_is_active(pool):
                return
        time.sleep(0.1)
    raise AssertionError("pool 'images' did not come back after the restart")


def test_hot_plug_of_an_encrypted_disk_is_still_refused() -> None:
    from virtkit.conf.devices import device_from_xml
    from virtkit.drivers.qemu.command import disk_blockdev_args

    kind, dev = device_from_xml(disk("/images/a.qcow2", "qcow2", luks()))
    assert kind == "disk"
    with pytest.raises(VirtError) as exc:
        disk_blockdev_args(dev, 1)  # type: ignore[arg-type]
    assert str(exc.value) == ("unsupported configuration: element <disk/source/encryption> "
                              "is not supported by the qemu driver")


_NATIVE = r'''
import json, sys, libvirt
c = libvirt.open(sys.argv[1])
s = c.secretDefineXML("<secret ephemeral='no' private='yes'><uuid>%s</uuid><usage type="
                      "'volume'><volume>/images/a.qcow2</volume></usage></secret>" % sys.argv[2])
s.setValue(b"pass")
print(json.dumps(c.domainXMLToNative("qemu-argv", sys.stdin.read(), 0)))
'''


def _mask_secrets(groups: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The random parts of a secret object (IV, ciphertext) replaced by their sizes."""
    out = []
    for opt, value in groups:
        if opt == "-object" and '"qom-type":"secret"' in value:
            props = json.loads(value)
            for k in ("data", "iv"):
                props[k] = f"<{len(base64.b64decode(props[k]))} bytes>"
            value = json.dumps(props, sort_keys=True, separators=(",", ":"))
        out.append((opt, value))
    return out


@pytest.mark.slow
@pytest.mark.interop
def test_the_command_line_is_libvirts(tmp_path: Path) -> None:
    """domxml-to-native of libvirtd 9.0 (with its secret driver holding the secret) and
    virtkit's builder give the same arguments, secret objects included (IV and ciphertext
    are random: compared by size, ours decrypted above)."""
    import argv_oracle as oracle

    from virtkit.conf.secret import SecretDef
    from virtkit.drivers.qemu import qemucaps
    from virtkit.drivers.qemu.defs import parse_def

    xml = ("<domain type='qemu'><name>enc</name>"
           "<uuid>496898a6-e6ff-f7c8-5dc2-3cf410945ee9</uuid><memory unit='MiB'>128</memory>"
           "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>"
           "<emulator>/usr/bin/qemu-system-x86_64</emulator>"
           + disk("/images/a.qcow2", "qcow2", luks())
           + disk("/images/b.luks", "raw", luks("usage='/images/a.qcow2'"), "vdb")
           + "</devices></domain>")
    lv = oracle.qemu_peers.start_libvirtd_qemu(tmp_path / "lv", extra_modules=("secret",))
    try:
        res = subprocess.run(["/usr/bin/python3", "-c", _NATIVE, lv.uri, SECRET], input=xml,
                             capture_output=True, text=True, timeout=60)
    finally:
        lv.stop()
    assert res.returncode == 0, res.stderr
    theirs = oracle.split_libvirt(json.loads(res.stdout))

    node = SecretNode(SecretPaths.embed(str(tmp_path / "root")))
    node.define(SecretDef.from_xml(
        f"<secret private='yes'><uuid>{SECRET}</uuid>"
        "<usage type='volume'><volume>/images/a.qcow2</volume></usage></secret>"))
    node.set_value(SECRET, b"pass")
    run = tmp_path / "run"
    run.mkdir()
    domdir = "/var/lib/libvirt/qemu/domain--1-enc"
    ctx = CommandContext(emulator=QEMU, qmp_socket=f"{domdir}/monitor.sock",
                         pid_file="/run/libvirt/qemu/enc.pid", log_file="/dev/null",
                         runtime_dir=str(run), kvm_available=True, caps=qemucaps.probe(QEMU),
                         secrets=node)
    ours = build(parse_def(xml), ctx).argv
    a = _mask_secrets(oracle.normalise(theirs, xml))
    b = _mask_secrets(oracle.normalise(ours, xml))
    assert sum(1 for o, v in a if '"qom-type":"secret"' in v) == 2
    assert a == b
