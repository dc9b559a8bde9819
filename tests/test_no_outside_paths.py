"""No file of the project names a place that only one machine has.

Tests, benchmarks, scripts and the package may read the repository, ``../shared``
found relative to the repository root (virtkit.testing.repo), and what the install
steps make (Debian packages, ``.cache/`` in the repository, the test guest that
scripts/test_guest.py builds). A sibling directory of the checkout, a home
directory or a source tree unpacked by hand is none of these: a fresh clone on a
fresh machine does not have it.
"""

from __future__ import annotations

import re
from pathlib import Path

from virtkit.testing.repo import REPO_ROOT

SCANNED = ("tests", "bench", "scripts", "src")
TEXT_SUFFIXES = {".py", ".sh", ".md", ".txt", ".xml", ".json", ".toml", ".cfg", ".conf", ""}

# Where hand-made files live: beside the checkout (wherever it is, and /work, where the
# project's checkouts usually are), home directories, source trees.
_OUTSIDE_PREFIXES = sorted({f"{REPO_ROOT.parent}/", "/work/", "/root/", "/home/", "/usr/src/",
                            "/usr/local/src/"})
_PATH = re.compile(
    r"(?<![\w.$}/-])(" + "|".join(re.escape(p) for p in _OUTSIDE_PREFIXES) + r"|~/)[^\s'\"`)>,]*")

# (file, path) pairs that are allowed, each with why it is no hand-made file.
ALLOWED = {
    # an attribute value in XML that the parser only copies; nothing opens it
    ("tests/conf/test_devices.py", "/root/.Xauthority"),
    # the test guest's cache: scripts/test_guest.py builds it there when first needed
    ("scripts/test_guest.py", "~/.cache/virtkit/guest"),
    ("scripts/demo.py", "~/.cache"),
}


def _allowed(rel: str, path: str) -> bool:
    # the package's own per-user locations (libvirt's ~/.pki/libvirt, ~/.config/libvirt,
    # ~/.cache/libvirt) are where a user keeps their files, by design
    return (rel, path) in ALLOWED or (rel.startswith("src/") and path.startswith("~/"))


def outside_paths(text: str) -> list[str]:
    """The hand-made-looking absolute paths that ``text`` names."""
    return [m.group(0).rstrip(".:;") for m in _PATH.finditer(text)]


def _scanned_files() -> list[Path]:
    files = []
    for top in SCANNED:
        for path in sorted((REPO_ROOT / top).rglob("*")):
            parts = path.relative_to(REPO_ROOT).parts
            # hidden folders (.hypothesis, .pytest_cache ...) and bytecode are tools' caches
            if (path.is_file() and path.suffix in TEXT_SUFFIXES and "__pycache__" not in parts
                    and not any(p.startswith(".") for p in parts)
                    and ".egg-info" not in str(path)):
                files.append(path)
    return files


def test_the_scan_finds_what_it_is_for() -> None:
    """The guard itself can fail: the paths that broke a fresh machine are caught."""
    bad = ('EXAMPLES = Path("/work/libvirt-src/libvirt-9.0.0/examples/xml/test")\n'
           'CONFORMANCE = "/work/shared/conformance/libvirt-xml/interface/inout"\n'
           f'X = "{REPO_ROOT.parent}/elsewhere/file.xml"\n'
           "CACHE = '~/downloads/libvirt'\n"
           "HOME = Path('/home/alice/libvirt')\n")
    assert outside_paths(bad) == [
        "/work/libvirt-src/libvirt-9.0.0/examples/xml/test",
        "/work/shared/conformance/libvirt-xml/interface/inout",
        f"{REPO_ROOT.parent}/elsewhere/file.xml", "~/downloads/libvirt", "/home/alice/libvirt"]
    assert outside_paths('p = root / "work/x"; q = "/tmp/work/x"; u = "/usr/share/doc/x"') == []


def test_no_file_names_a_hand_made_path() -> None:
    found = []
    for path in _scanned_files():
        rel = str(path.relative_to(REPO_ROOT))
        if rel == "tests/test_no_outside_paths.py":
            continue  # this file's own examples
        text = path.read_text(errors="replace")
        found += [f"{rel}: {p}" for p in outside_paths(text) if not _allowed(rel, p)]
    assert not found, ("use the repository, ../shared through virtkit.testing.repo, or a "
                       "file an install step makes, instead of:\n" + "\n".join(found))
