"""The conformance files libvirt refuses are refused by virtkit with libvirt's error.

Each file of test_conformance_others.PARSE_ERRORS is defined through Debian's
libvirt-python on test:///default (libvirt 9.0, in the same run) and parsed and
validated by virtkit; error code, domain and message must be the same.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_conformance_others import CONFORMANCE, PARSE_ERRORS

from virtkit.conf.network import NetworkDef, validate_network_def
from virtkit.conf.storage_pool import StoragePoolDef, validate_storage_pool_def
from virtkit.errors import VirtError

pytestmark = pytest.mark.interop

SYSTEM_PYTHON = "/usr/bin/python3"
LIBVIRT_SIDE = """
import json, sys, libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
conn = libvirt.open("test:///default")
out = {}
for fmt, path in json.load(sys.stdin):
    define = {"network": conn.networkDefineXML, "pool": conn.storagePoolDefineXML}[fmt]
    try:
        define(open(path).read())
        out[path] = None
    except libvirt.libvirtError as e:
        out[path] = [e.get_error_code(), e.get_error_domain(), e.get_error_message()]
print(json.dumps(out))
"""

CASES = [(fmt, str(CONFORMANCE / fmt / "in" / f"{name}.xml"))
         for fmt, names in sorted(PARSE_ERRORS.items()) for name in sorted(names)]


def _network(xml: str) -> None:
    validate_network_def(NetworkDef.from_xml(xml))


def _pool(xml: str) -> None:
    validate_storage_pool_def(StoragePoolDef.from_xml(xml))


PARSERS: dict[str, Callable[[str], None]] = {"network": _network, "pool": _pool}


@pytest.fixture(scope="module")
def libvirt_errors() -> dict[str, Any]:
    done = subprocess.run([SYSTEM_PYTHON, "-c", LIBVIRT_SIDE], input=json.dumps(CASES),
                          capture_output=True, text=True, check=True, timeout=120)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize(("fmt", "path"), CASES, ids=[p.rsplit("/", 1)[1] for _, p in CASES])
def test_refused_as_libvirt_refuses(fmt: str, path: str, libvirt_errors: dict[str, Any]) -> None:
    want = libvirt_errors[path]
    assert want is not None, "libvirt 9.0 accepts this file: it is no refusal case"
    with pytest.raises(VirtError) as exc:
        PARSERS[fmt](Path(path).read_text())
    assert [exc.value.code, exc.value.domain, exc.value.message] == want
