"""libvirt-style logging: levels, filters, outputs, precedence, line format."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from virtkit.daemon.logsetup import (
    LogFilter,
    LogOutput,
    LogSetupError,
    parse_filters,
    parse_outputs,
    resolve_settings,
    setup_logging,
    teardown_logging,
)

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+0000: (\d+): (\w+) : ([\w.]+): (.*)$")


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    teardown_logging()
    root.setLevel(level)


def test_parse_outputs() -> None:
    assert parse_outputs("3:stderr  1:file:/var/log/x.log 2:syslog:virtkitd 4:journald") == [
        LogOutput(3, "stderr"), LogOutput(1, "file", "/var/log/x.log"),
        LogOutput(2, "syslog", "virtkitd"), LogOutput(4, "journald")]
    assert parse_outputs("") == []


@pytest.mark.parametrize(("text", "message"), [
    ("stderr", "Malformed format for log output 'stderr'"),
    ("5:stderr", "Invalid log priority '5' for log output '5:stderr'"),
    ("x:stderr", "Invalid log priority 'x' for log output 'x:stderr'"),
    ("1:printer", "Invalid log destination 'printer' for log output '1:printer'"),
    ("1:file", "Log output '1:file' does not meet the format requirements for destination "
     "type 'file'"),
    ("1:stderr:x", "Log output '1:stderr:x' does not meet the format requirements for "
     "destination type 'stderr'"),
])
def test_bad_outputs(text: str, message: str) -> None:
    with pytest.raises(LogSetupError) as info:
        parse_outputs(text)
    assert str(info.value) == message


def test_parse_filters() -> None:
    assert parse_filters("1:rpc 4:+daemon 2:util.json") == [
        LogFilter(1, "rpc"), LogFilter(4, "daemon"), LogFilter(2, "util.json")]
    for text, message in [("rpc", "Malformed format for filter 'rpc'"),
                          ("0:rpc", "Invalid priority '0' for filter '0:rpc'"),
                          ("1:+", "Invalid match string '+'")]:
        with pytest.raises(LogSetupError) as info:
            parse_filters(text)
        assert str(info.value) == message


def test_filter_matching_is_substring_with_wildcards() -> None:
    assert LogFilter(1, "rpc").matches("virtkit.rpc.server")
    assert LogFilter(1, "rpc*server").matches("virtkit.rpc.server")
    assert not LogFilter(1, "qemu").matches("virtkit.rpc.server")


def test_precedence_config_env_verbose() -> None:
    s = resolve_settings(env={})
    assert (s.priority, s.outputs) == (3, (LogOutput(3, "stderr"),))
    s = resolve_settings(log_level=4, log_outputs="1:stderr", log_filters="1:rpc", env={})
    assert (s.priority, s.outputs, s.filters) == (4, (LogOutput(1, "stderr"),),
                                                  (LogFilter(1, "rpc"),))
    s = resolve_settings(log_level=4, log_outputs="1:stderr", log_filters="1:rpc",
                         env={"LIBVIRT_DEBUG": "1", "LIBVIRT_LOG_OUTPUTS": "2:stderr",
                              "LIBVIRT_LOG_FILTERS": "4:daemon"})
    assert (s.priority, s.outputs, s.filters) == (1, (LogOutput(2, "stderr"),),
                                                  (LogFilter(4, "daemon"),))
    assert resolve_settings(verbose=True, env={}).priority == 2
    assert resolve_settings(log_level=1, verbose=True, env={}).priority == 1
    # the default output carries the final priority, and a daemon logs to a file
    assert resolve_settings(verbose=True, env={}).outputs == (LogOutput(2, "stderr"),)
    assert resolve_settings(daemon=True, log_file="/l/d.log", env={}).outputs == (
        LogOutput(3, "file", "/l/d.log"),)


def test_bad_level() -> None:
    with pytest.raises(LogSetupError, match="argument '7' is invalid"):
        resolve_settings(log_level=7, env={})
    with pytest.raises(LogSetupError, match="LIBVIRT_DEBUG"):
        resolve_settings(env={"LIBVIRT_DEBUG": "loud"})


def test_file_output_format_levels_and_filters(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "d.log"
    settings = resolve_settings(log_level=3, log_filters="1:rpc 4:daemon.config",
                                log_outputs=f"1:file:{path}", env={})
    assert setup_logging(settings) == []
    logging.getLogger("virtkit.rpc.server").debug("rpc debug %d", 1)
    logging.getLogger("virtkit.daemon").info("daemon info")      # below default 3
    logging.getLogger("virtkit.daemon").warning("daemon warning")
    logging.getLogger("virtkit.daemon.config").warning("config warning")  # filtered to 4
    logging.getLogger("virtkit.daemon.config").error("config error")
    teardown_logging()
    lines = path.read_text().splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    got = [(m.group(2), m.group(3), m.group(4)) for m in parsed if m]
    assert got == [("debug", "virtkit.rpc.server", "rpc debug 1"),
                   ("warning", "virtkit.daemon", "daemon warning"),
                   ("error", "virtkit.daemon.config", "config error")]
    assert all(m.group(1) == str(os.getpid()) for m in parsed if m)
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)


def test_output_priority_filters_per_output(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    setup_logging(resolve_settings(log_level=1, log_outputs=f"1:file:{a} 4:file:{b}", env={}))
    logging.getLogger("virtkit.x").info("hello")
    logging.getLogger("virtkit.x").error("bad")
    teardown_logging()
    assert len(a.read_text().splitlines()) == 2
    assert b.read_text().count("\n") == 1 and ": error : virtkit.x: bad" in b.read_text()


def test_stderr_output(capfd: pytest.CaptureFixture[str]) -> None:
    setup_logging(resolve_settings(verbose=True, env={}))
    logging.getLogger("virtkit.daemon").info("up and running")
    logging.getLogger("virtkit.daemon").debug("not shown")
    err = capfd.readouterr().err
    assert re.search(r": info : virtkit.daemon: up and running\n$", err)
    assert "not shown" not in err


def test_unopenable_file_output(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(LogSetupError, match="failed to open"):
        setup_logging(resolve_settings(log_outputs=f"1:file:{tmp_path}/f/x.log", env={}))


def test_setup_replaces_previous_handlers(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    setup_logging(resolve_settings(log_outputs=f"3:file:{a}", env={}))
    setup_logging(resolve_settings(log_outputs=f"3:file:{b}", env={}))
    logging.getLogger("virtkit.x").warning("only b")
    teardown_logging()
    assert a.read_text() == "" and "only b" in b.read_text()
