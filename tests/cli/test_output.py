"""virsh's output layouts, checked on plain records."""

from __future__ import annotations

import json

from virtkit.cli.output import format_capacity, format_table, pretty_capacity, to_json


def test_table_layout_like_virsh_list() -> None:
    text = format_table(["Id", "Name", "State"], [["1", "test", "running"]])
    assert text == " Id   Name   State\n----------------------\n 1    test   running\n"


def test_table_without_rows_and_without_header() -> None:
    assert format_table(["Name", "Path"], []) == " Name   Path\n--------------\n"
    assert format_table(["Id", "Name"], [["1", "a"]], show_header=False) == " 1   a\n"


def test_table_widths_follow_widest_cell() -> None:
    text = format_table(["Name", "State"], [["default-pool", "active"], ["x", "inactive"]])
    lines = text.splitlines()
    assert lines[0] == " Name           State"
    assert lines[2] == " default-pool   active"
    assert lines[3] == " x              inactive"
    assert lines[1] == "-" * (12 + 3 + 8 + 3)


def test_table_escapes_control_characters_and_counts_wide_ones() -> None:
    text = format_table(["N"], [["a\tb"], ["日本"]])
    assert " a\\x09b\n" in text
    assert text.splitlines()[1] == "-" * (6 + 3)


def test_pretty_capacity() -> None:
    assert pretty_capacity(512) == (512.0, "B")
    assert format_capacity(0) == "0.00 B"
    assert format_capacity(100 * 1024**3) == "100.00 GiB"
    assert format_capacity(1536) == "1.50 KiB"
    assert format_capacity(5 * 1024**5) == "5.00 PiB"


def test_json_is_stable_and_ordered() -> None:
    text = to_json({"b": 1, "a": [True, None]})
    assert text == '{\n  "b": 1,\n  "a": [\n    true,\n    null\n  ]\n}\n'
    assert json.loads(text) == {"b": 1, "a": [True, None]}
