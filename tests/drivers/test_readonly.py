"""A read-only connection refuses every state-changing call, whoever makes it.

Walks libvirt's procedure table: each procedure not marked read-only is refused with
VIR_ERR_OPERATION_DENIED through ``conn.tables`` (where the CLI and tools reach), for
the test driver and for the embedded QEMU node with its network, storage and nwfilter
drivers; each read-only procedure's method is let through.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import virtkit
from virtkit.drivers.readonly import write_api
from virtkit.errors import ErrorCode, ErrorDomain, VirtError
from virtkit.rpc import bindings
from virtkit.rpc.protocol import REMOTE


def _bound(readonly: bool) -> list[tuple[str, str, str]]:
    """(procedure, table, method) of the procedures a driver table carries."""
    out = []
    for proc in REMOTE:
        target = bindings.method_for_proc(proc.name)
        if proc.readonly != readonly or target is None:
            continue
        table = bindings.table_of(target[0])
        if table is not None:
            out.append((proc.name, table, target[0]))
    return out


WRITING = _bound(readonly=False)
READING = _bound(readonly=True)


@pytest.fixture(params=["test:///default", "qemu:///embed?root={root}"])
def ro_conn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    uri = request.param.format(root=tmp_path)
    virtkit.open(uri).close()  # the node exists before the read-only open
    conn = virtkit.open_readonly(uri)
    try:
        yield conn
    finally:
        conn.close()


def test_the_table_walk_covers_the_api() -> None:
    assert len(WRITING) > 100 and len(READING) > 100
    assert {"domain_destroy", "nwfilter_define_xml", "network_create", "storage_vol_delete",
            "domain_set_scheduler_parameters"} <= {p for p, _, _ in WRITING}


def test_every_writing_procedure_is_refused(ro_conn: Any) -> None:
    wrong = []
    for proc, table, method in WRITING:
        try:
            getattr(getattr(ro_conn.tables, table), method)()
        except VirtError as e:
            if (e.code != ErrorCode.OPERATION_DENIED
                    or str(e) != f"operation forbidden: read only access prevents "
                                 f"{bindings.api_name(method)}"):
                wrong.append(f"{proc}: {e.code} {e}")
        else:
            wrong.append(f"{proc}: not refused")
    assert not wrong, "\n".join(wrong)


def test_reading_procedures_pass(ro_conn: Any) -> None:
    assert [p for p, _, m in READING if write_api(m) is not None] == []
    assert ro_conn.tables.hypervisor.connect_get_hostname()
    assert isinstance(ro_conn.list_domains(), list)


def test_error_domain_is_the_api_files() -> None:
    conn = virtkit.open_readonly("test:///default")
    try:
        with pytest.raises(VirtError) as exc:
            conn.tables.nwfilter.nwfilter_define_xml("<filter name='f'/>")
        assert exc.value.domain == ErrorDomain.NWFILTER
        with pytest.raises(VirtError) as exc:
            conn.tables.hypervisor.domain_destroy(None)
        assert exc.value.domain == ErrorDomain.DOMAIN
    finally:
        conn.close()


def test_cli_readonly_nwfilter_define_writes_nothing(tmp_path: Path) -> None:
    """The issue's case: `virtkit -r -c qemu:///embed?root=DIR nwfilter-define` wrote the
    filter, because the CLI reached the driver table past the handles."""
    root = tmp_path / "root"
    xml = tmp_path / "f.xml"
    xml.write_text("<filter name='ro-probe' chain='root'><rule action='accept' "
                   "direction='in'><all/></rule></filter>")
    uri = f"qemu:///embed?root={root}"
    done = subprocess.run([sys.executable, "-m", "virtkit.cli.main", "-r", "-c", uri,
                           "nwfilter-define", str(xml)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert "read only access prevents virNWFilterDefineXML" in done.stderr
    with virtkit.open(uri) as conn:
        names = conn.tables.nwfilter.connect_list_all_nwfilters(0)
    assert "ro-probe" not in {getattr(n, "name", n) for n in names}
