"""Whether XML being written may carry secrets (libvirt's ``VIR_DOMAIN_DEF_FORMAT_SECURE``).

libvirt writes graphics passwords (``passwd=``) and network disk cookies only when
the caller asked for ``VIR_DOMAIN_XML_SECURE``.  Definitions are written with
secrets by default (state and config files keep them); a driver formatting XML
for a client wraps it in :func:`public_xml` unless the client asked for
``SECURE``.  The setting is per thread (a context variable), so concurrent
calls do not see each other's.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["public_xml", "secure_output", "without_secrets"]

_SECURE: ContextVar[bool] = ContextVar("virtkit_xml_secure", default=True)


def secure_output() -> bool:
    """Whether secrets are written (False inside :func:`public_xml`)."""
    return _SECURE.get()


@contextmanager
def public_xml(hide: bool = True) -> Iterator[None]:
    """Write XML without secrets in this block (when ``hide``), as libvirt does
    without ``VIR_DOMAIN_XML_SECURE``."""
    token = _SECURE.set(not hide and _SECURE.get())
    try:
        yield
    finally:
        _SECURE.reset(token)


def without_secrets(domain: Any) -> Any:
    """A copy of a kept ``<domain>`` element (a snapshot's) without what
    :func:`public_xml` hides: graphics passwords and disk cookies."""
    out = copy.deepcopy(domain)
    for graphics in out.iter("graphics"):
        graphics.attrib.pop("passwd", None)
    for cookies in list(out.iter("cookies")):
        parent = cookies.getparent()
        if parent is not None and parent.tag == "source":
            parent.remove(cookies)
    return out
