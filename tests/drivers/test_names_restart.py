"""Names: what define accepts survives a restart (domains, networks, pools, nwfilters).

libvirt 9.0 accepts a leading dot, CR and tab at define and its loaders read dot files
back (virDirRead skips only '.' and '..'); a raw CR in text would read back as LF, so
virtkit writes it as ``&#13;``. LF is refused at define ("invalid char in name: \\n",
libvirt's error for domains); a control character or NUL is not XML and fails to parse.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from virtkit.drivers.nwfilter import Firewall, NWFilterDriverImpl
from virtkit.drivers.nwfilter.nft import PortProgram
from virtkit.errors import ErrorCode, VirtError

KEPT = [".dot", "..two", ".x.xml", "a\rb", "a\tb", " sp", "tail."]
# A network's name reaches dnsmasq's config (paths, a comment): no control character.
KEPT_NET = [n for n in KEPT if n.isprintable()]
_REFS = str.maketrans({"\r": "&#13;", "\n": "&#10;", "\t": "&#9;", "\x01": "&#1;",
                       "\x00": "&#0;"})

_DEFINE = '''
import sys, virtkit
root, names = sys.argv[1], sys.argv[2:]
c = virtkit.open(f"qemu:///embed?root={root}")
for i, ref in enumerate(names):
    c.define_domain(f"<domain type='qemu'><name>{ref}</name><memory>65536</memory>"
                    "<os><type arch='x86_64'>hvm</type></os></domain>")
    if "&#" not in ref:
        c.define_network(f"<network><name>{ref}</name><bridge name='vknm{i}'/></network>")
    c.define_storage_pool(f"<pool type='dir'><name>{ref}</name>"
                          f"<target><path>{root}/pool{i}</path></target></pool>")
c.close()
'''
_LIST = '''
import json, sys, virtkit
c = virtkit.open(f"qemu:///embed?root={sys.argv[1]}")
print(json.dumps([sorted(o.name for o in c.list_domains()),
                  sorted(o.name for o in c.list_networks()),
                  sorted(o.name for o in c.list_storage_pools())]))
'''


def _run(script: str, *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", script, *args], check=True,
                         capture_output=True, text=True, timeout=120)
    return out.stdout


def test_domains_networks_pools_survive_a_restart(tmp_path: Path) -> None:
    import json

    root = str(tmp_path / "root")
    _run(_DEFINE, root, *(n.translate(_REFS) for n in KEPT))
    domains, networks, pools = json.loads(_run(_LIST, root))  # a new process: a restart
    assert domains == pools == sorted(KEPT)
    assert networks == sorted(KEPT_NET)


@pytest.mark.parametrize("bad", ["a\nb", "\n"])
@pytest.mark.parametrize("kind", ["domain", "network", "pool"])
def test_newline_is_refused_at_define(tmp_path: Path, kind: str, bad: str) -> None:
    import virtkit

    conn = virtkit.open(f"qemu:///embed?root={tmp_path}")
    ref = bad.translate(_REFS)
    define = {"domain": lambda: conn.define_domain(
                  f"<domain type='qemu'><name>{ref}</name><memory>65536</memory>"
                  "<os><type arch='x86_64'>hvm</type></os></domain>"),
              "network": lambda: conn.define_network(
                  f"<network><name>{ref}</name><bridge name='vknl0'/></network>"),
              "pool": lambda: conn.define_storage_pool(
                  f"<pool type='dir'><name>{ref}</name><target><path>{tmp_path}/p</path>"
                  "</target></pool>")}[kind]
    try:
        with pytest.raises(VirtError) as exc:
            define()
        assert exc.value.code == ErrorCode.XML_DETAIL
        assert str(exc.value) == "invalid char in name: \n"
    finally:
        conn.close()
    assert not [p for p in tmp_path.rglob("*.xml")]


@pytest.mark.parametrize("bad", ["a\rb", "a\tb"])
def test_network_name_control_characters_are_refused(tmp_path: Path, bad: str) -> None:
    import virtkit

    conn = virtkit.open(f"qemu:///embed?root={tmp_path}")
    try:
        with pytest.raises(VirtError) as exc:
            conn.define_network(f"<network><name>{bad.translate(_REFS)}</name></network>")
    finally:
        conn.close()
    assert exc.value.code == ErrorCode.XML_DETAIL
    assert f"control character U+{ord(bad[1]):04X} is not allowed in <name>" in str(exc.value)


class _NoFirewall(Firewall):
    def apply(self, prog: PortProgram) -> None:
        del prog

    def remove(self, port: str) -> None:
        del port


def test_nwfilters_survive_a_restart(tmp_path: Path) -> None:
    drv = NWFilterDriverImpl(root=str(tmp_path), firewall=_NoFirewall())
    for name in KEPT:
        ref = name.translate(_REFS).replace("'", "&apos;")
        drv.nwfilter_define_xml(f"<filter name='{ref}' chain='root'/>")
    again = NWFilterDriverImpl(root=str(tmp_path), firewall=_NoFirewall())
    mine = {f.name for f in again.connect_list_all_nwfilters()} & set(KEPT)
    assert mine == set(KEPT)
