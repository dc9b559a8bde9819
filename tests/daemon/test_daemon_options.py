"""virtkitd's command line (libvirtd's options and messages, plus --root)."""

from __future__ import annotations

import pytest

from virtkit import __version__
from virtkit.daemon.options import DaemonOptions, OptionsExit, parse_args, usage


def parse(*argv: str, env: dict[str, str] | None = None) -> DaemonOptions:
    return parse_args(list(argv), env=env or {})


def exit_of(*argv: str, env: dict[str, str] | None = None) -> OptionsExit:
    with pytest.raises(OptionsExit) as info:
        parse(*argv, env=env)
    return info.value


def test_defaults() -> None:
    assert parse() == DaemonOptions()
    assert parse().root == "/"


def test_every_long_option() -> None:
    opts = parse("--verbose", "--daemon", "--listen", "--timeout", "30", "--config", "/c.conf",
                 "--pid-file", "/p.pid", "--root", "/srv/vk")
    assert opts == DaemonOptions(verbose=True, daemon=True, listen=True, timeout=30,
                                 config_file="/c.conf", pid_file="/p.pid", root="/srv/vk")


def test_short_options_bundled_and_attached() -> None:
    opts = parse("-vdl", "-t5", "-f", "a.conf", "-pfoo.pid")
    assert (opts.verbose, opts.daemon, opts.listen, opts.timeout) == (True, True, True, 5)
    assert opts.config_file == "a.conf" and opts.pid_file == "foo.pid"


def test_long_option_with_equals_and_abbreviation() -> None:
    opts = parse("--time=7", "--conf=x.conf", "--pid=p", "--verb")
    assert (opts.timeout, opts.config_file, opts.pid_file, opts.verbose) == (7, "x.conf", "p",
                                                                            True)


def test_root_from_environment_and_option_wins() -> None:
    assert parse(env={"VIRTKIT_ROOT": "/env"}).root == "/env"
    assert parse("--root=/opt", env={"VIRTKIT_ROOT": "/env"}).root == "/opt"


def test_help_lists_options_and_default_paths() -> None:
    e = exit_of("--help")
    assert e.status == 0 and e.stdout
    for text in ("-l | --listen", "-t | --timeout <secs>", "-p | --pid-file <file>",
                 "--root <dir>", "/etc/libvirt/libvirtd.conf", "/run/libvirt/libvirt-sock-ro",
                 "/run/libvirtd.pid", "/etc/pki/CA/cacert.pem"):
        assert text in e.text


def test_help_shows_paths_under_root() -> None:
    e = exit_of("--root", "/srv/x", "-h")
    assert "/srv/x/run/libvirt/libvirt-sock\n" in e.text
    assert "/srv/x/etc/libvirt/libvirtd.conf" in e.text
    assert usage(root="/srv/x") == e.text


def test_version() -> None:
    e = exit_of("-V")
    assert (e.status, e.text, e.stdout) == (0, f"virtkitd (virtkit) {__version__}\n", True)


def test_version_acts_at_once_like_getopt_loop() -> None:
    assert exit_of("-V", "--bogus").status == 0
    assert exit_of("--bogus", "-V").status == 1


@pytest.mark.parametrize(("argv", "message"), [
    (["--bogus"], "virtkitd: unrecognized option '--bogus'"),
    (["-x"], "virtkitd: invalid option -- 'x'"),
    (["-t"], "virtkitd: option requires an argument -- 't'"),
    (["--config"], "virtkitd: option '--config' requires an argument"),
    (["--verbose=1"], "virtkitd: option '--verbose' doesn't allow an argument"),
])
def test_bad_options_print_usage_and_fail(argv: list[str], message: str) -> None:
    e = exit_of(*argv)
    assert e.status == 1 and not e.stdout
    assert e.text.startswith(message + "\n")
    assert "Usage:" in e.text


def test_operands_are_refused() -> None:
    e = exit_of("-v", "extra")
    assert e.status == 1
    assert e.text == "virtkitd: unexpected, non-option, command line arguments\n"
    assert exit_of("--", "-v").status == 1


@pytest.mark.parametrize("value", ["abc", "-1", "2147484", "5s", ""])
def test_invalid_timeout(value: str) -> None:
    e = exit_of("--timeout", value)
    assert (e.status, e.text) == (1, "Invalid value for timeout\n")


def test_largest_timeout() -> None:
    assert parse("-t", "2147483").timeout == 2147483
