"""The secret driver through ``virtkit.open(...).tables.secret``: definitions, values,
persistence (values encrypted at rest), private and ephemeral secrets, lookups, listing
filters, events, and what a bad file or bad input leaves behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

import virtkit
from virtkit.constants import (
    ConnectListAllSecretsFlags,
    SecretEventID,
    SecretEventLifecycleType,
    SecretUsageType,
)
from virtkit.drivers import state
from virtkit.drivers.secret import node as secret_nodes
from virtkit.drivers.secret.node import SecretNode
from virtkit.drivers.secret.paths import SecretPaths
from virtkit.errors import ErrorCode, ErrorDomain, VirtError
from virtkit.types import SecretIdent

U1 = "11111111-2222-3333-4444-555555555555"
U2 = "66666666-7777-8888-9999-aaaaaaaaaaaa"
PASS = b"Tr0ub4dor&3-unique-passphrase"


def vol_secret(uuid: str, path: str, attrs: str = "") -> str:
    return (f"<secret {attrs}><uuid>{uuid}</uuid>"
            f"<usage type='volume'><volume>{path}</volume></usage></secret>")


def all_bytes_under(root: Path) -> list[tuple[Path, bytes]]:
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out.append((p, p.read_bytes()))
    return out


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


def open_secret(root: Path) -> Any:
    """A fresh node each time, as a new process (a restarted daemon) has."""
    paths = SecretPaths.embed(str(root))
    node = SecretNode(paths)
    from virtkit.drivers.secret.driver import SecretDriverImpl

    return SecretDriverImpl(node)


def test_define_set_get_and_restart_keeps_the_value_encrypted_at_rest(root: Path) -> None:
    drv = open_secret(root)
    s = drv.secret_define_xml(vol_secret(U1, "/pool/a.qcow2", "private='no'"))
    assert s == SecretIdent(U1, SecretUsageType.VOLUME, "/pool/a.qcow2")
    with pytest.raises(VirtError) as exc:
        drv.secret_get_value(s)
    assert (exc.value.code, str(exc.value)) == (
        ErrorCode.NO_SECRET, f"Secret not found: secret '{U1}' does not have a value")
    drv.secret_set_value(s, PASS)
    assert drv.secret_get_value(s) == PASS

    paths = SecretPaths.embed(str(root))
    assert sorted(os.listdir(paths.config_dir)) == [f"{U1}.aes", f"{U1}.xml"]
    for path in (paths.config_file(U1), paths.value_file(U1), paths.key_file):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(paths.key_dir).st_mode) == 0o700
    import base64
    for path, data in all_bytes_under(root):
        assert PASS not in data and base64.b64encode(PASS) not in data, path

    again = open_secret(root)  # a restart
    assert again.secret_get_value(again.secret_lookup_by_uuid(U1)) == PASS
    assert again.secret_get_xml_desc(s) == drv.secret_get_xml_desc(s)


def test_a_value_file_under_another_key_or_name_is_set_aside(root: Path) -> None:
    drv = open_secret(root)
    s1 = drv.secret_define_xml(vol_secret(U1, "/a"))
    s2 = drv.secret_define_xml(vol_secret(U2, "/b"))
    drv.secret_set_value(s1, PASS)
    drv.secret_set_value(s2, b"other")
    paths = SecretPaths.embed(str(root))
    # U1's value copied over U2's: the UUID is bound into the ciphertext
    Path(paths.value_file(U2)).write_bytes(Path(paths.value_file(U1)).read_bytes())
    again = open_secret(root)
    assert again.secret_get_value(s1) == PASS
    with pytest.raises(VirtError) as exc:
        again.secret_get_value(s2)
    assert exc.value.code == ErrorCode.NO_SECRET  # the definition stays, without a value
    assert any(n.startswith(f"{U2}.aes.corrupt-") for n in os.listdir(paths.config_dir))
    # another master key: nothing decrypts, nothing is lost
    Path(paths.key_file).write_bytes(os.urandom(32))
    third = open_secret(root)
    assert [x.uuid for x in third.connect_list_all_secrets()] == [U1, U2]
    with pytest.raises(VirtError):
        third.secret_get_value(s1)


def test_ephemeral_secrets_never_touch_the_disk(root: Path) -> None:
    drv = open_secret(root)
    s = drv.secret_define_xml(vol_secret(U1, "/e", "ephemeral='yes'"))
    drv.secret_set_value(s, PASS)
    assert drv.secret_get_value(s) == PASS
    assert os.listdir(SecretPaths.embed(str(root)).config_dir) == []
    assert open_secret(root).connect_list_all_secrets() == []  # gone after a restart
    # persistent -> ephemeral removes the files; ephemeral -> persistent writes them
    s2 = drv.secret_define_xml(vol_secret(U2, "/p"))
    drv.secret_set_value(s2, b"v2")
    drv.secret_define_xml(vol_secret(U2, "/p", "ephemeral='yes'"))
    assert os.listdir(SecretPaths.embed(str(root)).config_dir) == []
    drv.secret_define_xml(vol_secret(U2, "/p", "ephemeral='no'"))
    assert open_secret(root).secret_get_value(s2) == b"v2"


def test_private_values_stay_inside_the_daemon(root: Path) -> None:
    drv = open_secret(root)
    s = drv.secret_define_xml(vol_secret(U1, "/v", "private='yes'"))
    drv.secret_set_value(s, PASS)
    with pytest.raises(VirtError) as exc:
        drv.secret_get_value(s)
    assert (exc.value.code, exc.value.domain, str(exc.value)) == (
        ErrorCode.INVALID_SECRET, ErrorDomain.SECRET, "Invalid secret: secret is private")
    # the daemon's own drivers (storage, QEMU) get it through the node's link
    assert drv.node.secret_value(SecretUsageType.VOLUME, U1) == PASS
    assert drv.node.secret_value(SecretUsageType.VOLUME, None, "/v") == PASS
    with pytest.raises(VirtError) as exc:
        drv.node.secret_value(SecretUsageType.CEPH, U1)
    assert str(exc.value) == (f"invalid argument: secret with uuid {U1} is of type 'volume' "
                              "not expected 'ceph' type")
    with pytest.raises(VirtError) as exc:
        drv.secret_define_xml(vol_secret(U1, "/v", "private='no'"))
    assert str(exc.value) == "internal error: cannot change private flag on existing secret"


def test_lookups_listing_and_duplicates(root: Path) -> None:
    drv = open_secret(root)
    drv.secret_define_xml(vol_secret(U1, "/a"))
    drv.secret_define_xml(f"<secret ephemeral='yes' private='yes'><uuid>{U2}</uuid>"
                          "<usage type='ceph'><name>client.admin</name></usage></secret>")
    assert drv.secret_lookup_by_usage(SecretUsageType.CEPH, "client.admin").uuid == U2
    f = ConnectListAllSecretsFlags
    assert [s.uuid for s in drv.connect_list_all_secrets(f.EPHEMERAL)] == [U2]
    assert [s.uuid for s in drv.connect_list_all_secrets(f.NO_EPHEMERAL)] == [U1]
    assert [s.uuid for s in drv.connect_list_all_secrets(f.PRIVATE | f.NO_PRIVATE)] == [U1, U2]
    assert drv.connect_num_of_secrets() == 2
    assert drv.connect_list_secrets(1) == [U1]
    with pytest.raises(VirtError) as exc:
        drv.connect_list_all_secrets(1 << 20)
    assert str(exc.value) == ("unsupported flags (0x100000) in function "
                              "secretConnectListAllSecrets")
    with pytest.raises(VirtError) as exc:
        drv.secret_define_xml(vol_secret(U2, "/a"))  # same uuid, other usage
    assert str(exc.value) == (f"internal error: a secret with UUID {U2} is already defined "
                              "for use with client.admin")
    with pytest.raises(VirtError) as exc:
        drv.secret_define_xml(vol_secret("0" * 32, "/a"))  # other uuid, same usage
    assert str(exc.value) == (f"internal error: a secret with UUID {U1} already defined for "
                              "use with /a")
    for hostile in ("../../etc/passwd", "", "\0", U1 + "/x", "x" * 10000):
        with pytest.raises(VirtError) as exc:
            drv.secret_lookup_by_uuid(hostile)
        assert exc.value.code == ErrorCode.NO_SECRET
    for hostile in ("../../etc/passwd", "/a\0", "x" * 10000):
        with pytest.raises(VirtError) as exc:
            drv.secret_lookup_by_usage(SecretUsageType.VOLUME, hostile)
        assert exc.value.code == ErrorCode.NO_SECRET
    drv.secret_undefine(drv.secret_lookup_by_uuid(U1))
    with pytest.raises(VirtError) as exc:
        drv.secret_undefine(SecretIdent(U1, 1, "/a"))
    assert str(exc.value) == f"Secret not found: no secret with matching uuid '{U1}'"
    assert os.listdir(SecretPaths.embed(str(root)).config_dir) == []


def test_malformed_xml_keeps_nothing(root: Path) -> None:
    drv = open_secret(root)
    for bad in ("<secret><uuid>", "<secret><uuid>nope</uuid></secret>",
                "<secret><usage type='volume'/></secret>", "<domain/>",
                "<secret ephemeral='maybe'/>"):
        with pytest.raises(VirtError):
            drv.secret_define_xml(bad)
    assert drv.connect_list_all_secrets() == []
    assert os.listdir(SecretPaths.embed(str(root)).config_dir) == []


def test_corrupt_and_misnamed_files_are_quarantined(root: Path) -> None:
    drv = open_secret(root)
    drv.secret_define_xml(vol_secret(U1, "/a"))
    cfg = Path(SecretPaths.embed(str(root)).config_dir)
    (cfg / f"{U2}.xml").write_text(vol_secret(U1, "/elsewhere"))  # names another UUID
    (cfg / "00000000-0000-0000-0000-000000000001.xml").write_text("<secret><uuid>")
    again = open_secret(root)
    assert [s.uuid for s in again.connect_list_all_secrets()] == [U1]
    left = sorted(os.listdir(cfg))
    assert left[0].startswith("00000000-0000-0000-0000-000000000001.xml.corrupt-")
    assert left[1] == f"{U1}.xml" and left[2].startswith(f"{U2}.xml.corrupt-")


def test_events_lifecycle_and_value_changed(root: Path) -> None:
    drv = open_secret(root)
    seen: list[tuple[str, int, tuple[object, ...]]] = []

    def cb(s: SecretIdent, event_id: int, payload: tuple[object, ...]) -> None:
        seen.append((s.uuid, event_id, payload))

    drv.connect_secret_event_register_any(None, SecretEventID.LIFECYCLE, cb)
    cid = drv.connect_secret_event_register_any(None, SecretEventID.VALUE_CHANGED, cb)
    s = drv.secret_define_xml(vol_secret(U1, "/a"))
    drv.secret_set_value(s, PASS)
    drv.secret_undefine(s)
    assert seen == [(U1, SecretEventID.LIFECYCLE, (SecretEventLifecycleType.DEFINED, 0)),
                    (U1, SecretEventID.VALUE_CHANGED, ()),
                    (U1, SecretEventID.LIFECYCLE, (SecretEventLifecycleType.UNDEFINED, 0))]
    assert all(PASS not in repr(e).encode() for e in seen)
    drv.connect_secret_event_deregister_any(cid)
    with pytest.raises(VirtError):
        drv.connect_secret_event_deregister_any(cid)
    with pytest.raises(VirtError):
        drv.connect_secret_event_register_any(None, 7, cb)


def test_flags_are_checked(root: Path) -> None:
    drv = open_secret(root)
    s = drv.secret_define_xml(vol_secret(U1, "/a"), 1)  # VIR_SECRET_DEFINE_VALIDATE
    for call, name in ((lambda: drv.secret_define_xml("<secret/>", 2), "secretDefineXML"),
                       (lambda: drv.secret_get_xml_desc(s, 1), "secretGetXMLDesc"),
                       (lambda: drv.secret_set_value(s, b"x", 1), "secretSetValue"),
                       (lambda: drv.secret_get_value(s, 1), "secretGetValue")):
        with pytest.raises(VirtError) as exc:
            call()
        assert exc.value.code == ErrorCode.INVALID_ARG and name in str(exc.value)


def test_secret_embed_uri_and_the_qemu_connections_share_one_node(tmp_path: Path) -> None:
    root = tmp_path / "r"
    with virtkit.open(f"secret:///embed?root={root}") as c:
        assert c.tables.hypervisor.connect_get_uri() == f"secret:///embed?root={root}"
        sec = c.tables.secret
        s = sec.secret_define_xml(vol_secret(U1, "/a", "private='yes'"))
        sec.secret_set_value(s, PASS)
    assert os.path.isfile(root / "etc" / "secrets" / f"{U1}.xml")
    with virtkit.open(f"qemu:///embed?root={root}") as q:
        assert [x.uuid for x in q.tables.secret.connect_list_all_secrets()] == [U1]
    node = secret_nodes.loaded(SecretPaths.embed(str(root)))
    assert node is not None and node.secret_value(SecretUsageType.VOLUME, U1) == PASS
    with pytest.raises(VirtError) as exc:
        virtkit.open("secret:///embed")
    assert exc.value.code == ErrorCode.INVALID_ARG


def test_the_daemon_loads_secrets_before_storage_and_qemu() -> None:
    modules = list(state.MODULES)
    assert modules.index("virtkit.drivers.secret.statedrv") < modules.index(
        "virtkit.drivers.storage.statedrv") < modules.index("virtkit.drivers.compose")
    names = [d.name for d in state.load()]
    assert names.index("secret") < names.index("storage") < names.index("QEMU")


def test_the_state_driver_loads_the_system_layout_and_reload_picks_up_new_files(
        tmp_path: Path) -> None:
    from virtkit.drivers.secret.statedrv import SecretStateDriver

    root = tmp_path / "sys"
    cfg = root / "etc" / "libvirt" / "secrets"
    cfg.mkdir(parents=True)
    (cfg / f"{U1}.xml").write_text(vol_secret(U1, "/a"))
    drv = SecretStateDriver()
    assert drv.initialize(state.OpenContext(str(root)))
    node = drv.node
    assert node is not None and list(node.secrets) == [U1]
    (cfg / f"{U2}.xml").write_text(vol_secret(U2, "/b"))
    drv.reload()
    assert sorted(node.secrets) == [U1, U2]
    drv.cleanup()
    assert drv.node is None


def test_a_lost_master_key_leaves_the_value_files_alone(root: Path) -> None:
    drv = open_secret(root)
    s = drv.secret_define_xml(vol_secret(U1, "/a"))
    drv.secret_set_value(s, PASS)
    paths = SecretPaths.embed(str(root))
    stored = Path(paths.value_file(U1)).read_bytes()
    os.unlink(paths.key_file)
    again = open_secret(root)
    with pytest.raises(VirtError) as exc:
        again.secret_get_value(s)
    assert exc.value.code == ErrorCode.NO_SECRET
    assert Path(paths.value_file(U1)).read_bytes() == stored  # not moved aside
    assert not os.path.exists(paths.key_file)  # and no new key made by reading
