"""Where tests, benchmarks and scripts find the files they read.

Only three places are allowed (``tests/test_no_outside_paths.py`` checks it):
the repository itself, ``../shared`` beside the repository root (wherever the
clone is), and what the install step (``scripts/sysdeps.py``, run by ``make
test`` and ``make demo``) installs or unpacks into ``.cache/`` in the
repository.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE", "REPO_ROOT", "SHARED", "conformance_dir", "debian_file", "libvirt_source_file"]

REPO_ROOT = Path(__file__).resolve().parents[3]
"""The checkout this package was installed from (``pip install -e``)."""

SHARED = REPO_ROOT.parent / "shared"
"""The project's shared folder, laid beside every checkout."""

CACHE = REPO_ROOT / ".cache"
"""What the install step downloads or unpacks (git ignores it)."""


def conformance_dir(kind: str = "") -> Path:
    """``shared/conformance/libvirt-xml[/kind]``; ``$VIRTKIT_CONFORMANCE`` (the
    ``conformance`` folder) overrides the location."""
    env = os.environ.get("VIRTKIT_CONFORMANCE")
    base = Path(env) if env else SHARED / "conformance"
    path = base / "libvirt-xml"
    return path / kind if kind else path


def debian_file(package: str, path: str) -> Path:
    """A file from a Debian package that ``scripts/sysdeps.py`` unpacked into
    ``.cache/debian/PACKAGE`` without installing it (``path`` as in the package,
    e.g. ``etc/libvirt/libvirtd.conf``)."""
    found = CACHE / "debian" / package / path
    if not found.is_file():
        raise FileNotFoundError(
            f"{found}: not unpacked; run 'make sysdeps' (scripts/sysdeps.py unpacks "
            f"{package} into {CACHE / 'debian'})")
    return found


def libvirt_source_file(path: str) -> Path:
    """A file of libvirt's Debian source package (at the installed libvirt-daemon's
    version) that ``scripts/sysdeps.py`` extracted into ``.cache/debian/libvirt-source``
    (``path`` as in libvirt's tree, e.g. ``src/remote/remote_protocol.x``)."""
    found = CACHE / "debian" / "libvirt-source" / path
    if not found.is_file():
        raise FileNotFoundError(
            f"{found}: not extracted; run 'make sysdeps' (scripts/sysdeps.py extracts "
            f"libvirt's source files into {CACHE / 'debian' / 'libvirt-source'})")
    return found
