"""``--json`` documents of the listing and info commands, run in process on test:///default."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from virtkit.cli import main as cli_main
from virtkit.cli.framework import Ctl


def run(batch: str) -> tuple[list[Any], str, bool]:
    """Run a batch in process; returns (one parsed JSON document per command, stderr, ok)."""
    out, err = io.StringIO(), io.StringIO()
    ctl = Ctl(uri="test:///default", quiet=True, out=out, err=err)
    try:
        ok = cli_main.run(ctl, cli_main.parse_commands([batch]))
    finally:
        ctl.close()
    decoder = json.JSONDecoder()
    text, docs, pos = out.getvalue(), [], 0
    while pos < len(text):
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            break
        doc, pos = decoder.raw_decode(text, pos)
        docs.append(doc)
    return docs, err.getvalue(), ok


def test_list_and_dominfo() -> None:
    (listing, info, state), err, ok = run(
        "list --all --json; dominfo test --json; domstate test --json"
    )
    assert ok and err == ""
    assert listing == [
        {
            "id": 1,
            "name": "test",
            "uuid": "6695eb01-f6a4-8304-79aa-97f2502e193f",
            "state": "running",
        }
    ]
    assert info["name"] == "test"
    assert info["persistent"] is True
    assert info["autostart"] is False
    assert info["managed_save"] is False
    assert info["max_memory_kib"] == 8388608
    assert state == {"state": "running", "reason": "unknown"}


def test_inactive_domain_has_null_id() -> None:
    (listing,), _, _ = run("destroy test; list --all --json")
    assert listing[0]["id"] is None
    assert listing[0]["state"] == "shut off"


def test_host_network_storage_documents() -> None:
    (node, nets, net, pools, pool, vols), err, ok = run(
        "nodeinfo --json; net-list --all --json; net-info default --json; "
        "pool-list --all --json; pool-info default-pool --json; vol-list default-pool --json"
    )
    assert ok and err == ""
    assert node["cpus"] == 16 and node["memory_kib"] == 3145728
    assert nets == [
        {
            "name": "default",
            "uuid": "dd8fe884-6c02-601e-7551-cca97df1c5df",
            "active": True,
            "autostart": False,
            "persistent": True,
        }
    ]
    assert net["bridge"] == "virbr0"
    assert pools[0]["name"] == "default-pool" and pools[0]["capacity"] == 100 * 1024**3
    assert pool["state"] == "running" and pool["allocation"] == 0
    assert vols == []


def test_pool_and_volume_listings_follow_the_new_commands(tmp_path: Path) -> None:
    xml = tmp_path / "copy.xml"
    xml.write_text("<volume><name>copy.img</name><capacity>2097152</capacity></volume>")
    (pools, vols), err, ok = run(
        "pool-define-as p1 dir --target /p1; pool-autostart p1; "
        "vol-create-as default-pool a.img 1M; "
        f"vol-create-from default-pool {xml} /default-pool/a.img; "
        "pool-list --all --json; vol-list default-pool --json"
    )
    assert ok and err == ""
    by_name = {p["name"]: p for p in pools}
    assert by_name["p1"]["autostart"] is True and by_name["p1"]["state"] == "inactive"
    assert by_name["p1"]["capacity"] is None
    assert [(v["name"], v["capacity"], v["type"]) for v in vols] == [
        ("a.img", 1024**2, "file"),
        ("copy.img", 2 * 1024**2, "file"),
    ]


def test_snapshot_list_and_domstats() -> None:
    (snaps, stats), err, ok = run(
        "snapshot-create-as test s1; snapshot-list test --json; domstats test --json"
    )
    assert ok and err == ""
    assert [s["name"] for s in snaps] == ["s1"]
    assert isinstance(snaps[0]["creation_time"], int)
    assert stats[0]["name"] == "test"
    assert stats[0]["stats"]["state.state"] == 1


@pytest.mark.parametrize(
    "command",
    [
        "list",
        "dominfo test",
        "domstate test",
        "domstats",
        "nodeinfo",
        "net-list",
        "net-info default",
        "pool-list",
        "pool-info default-pool",
        "vol-list default-pool",
        "snapshot-list test",
    ],
)
def test_every_listing_and_info_command_takes_json(command: str) -> None:
    docs, err, ok = run(f"{command} --json")
    assert ok and err == ""
    assert len(docs) == 1
