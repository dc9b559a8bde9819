"""Which driver opens a URI: inside the daemon the remote driver takes only URIs with a
host (issue 13, item 8; the end-to-end check against both daemons is in
tests/daemon/test_daemon_no_driver.py)."""

from __future__ import annotations

import pytest

from virtkit.drivers import registry
from virtkit.drivers.base import DriverTables
from virtkit.drivers.state import OpenContext
from virtkit.errors import VirtError
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.uri import ParsedURI, parse_uri


@pytest.fixture
def remote_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the remote driver by a recorder that opens nothing."""
    calls: list[str] = []

    def opener(uri: ParsedURI, flags: int) -> DriverTables:
        calls.append(str(uri))
        raise VirtError("remote driver reached")

    monkeypatch.setattr(registry, "remote_opener", opener)
    return calls


DAEMON = OpenContext("/nonexistent-root")  # what virtkitd passes: "inside the daemon"


def _open(uri: str, ctx: OpenContext | None = None) -> VirtError:
    parsed = parse_uri(uri)
    assert parsed is not None
    with pytest.raises(VirtError) as info:
        registry.open_tables(parsed, 0, ctx)
    return info.value


@pytest.mark.parametrize("uri", ["lxc:///system", "xen:///system", "qemu:///session",
                                 "vbox:///session"])
def test_daemon_declines_hostless_uri(remote_calls: list[str], uri: str) -> None:
    err = _open(uri, DAEMON)
    assert (err.code, err.domain) == (ErrorCode.NO_CONNECT, ErrorDomain.NONE)
    assert str(err) == f"no connection driver available for {uri}"
    assert remote_calls == []


def test_daemon_still_uses_remote_for_a_host(remote_calls: list[str]) -> None:
    _open("lxc+ssh://example.invalid/system", DAEMON)
    assert remote_calls == ["lxc+ssh://example.invalid/system"]


def test_outside_the_daemon_hostless_uri_goes_to_remote(remote_calls: list[str]) -> None:
    _open("lxc:///system")
    assert remote_calls == ["lxc:///system"]
