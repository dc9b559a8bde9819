"""Every event kind the daemon carries goes through the registration's @aclfilter
(``<object>.getattr``); a kind without a rule is never delivered under a policy."""

from __future__ import annotations

from typing import Any

from virtkit.daemon.access import AccessControl, parse_policy
from virtkit.daemon.guard import CallGuard
from virtkit.rpc.eventmsgs import KINDS
from virtkit.types import DomainIdent, SecretIdent

POLICY = """
    [[rules]]
    effect = "allow"
    users = ["alice"]
    permissions = ["secret.getattr", "domain.getattr"]
    objects = ["alice-*"]
"""


class _Session:
    identity = {"user-name": "alice", "unix-user-id": "1001", "unix-group-id": "1001"}


def _guard() -> CallGuard:
    return CallGuard(AccessControl(parse_policy(POLICY)), None)


def test_secret_events_follow_secret_getattr_by_usage() -> None:
    sess: Any = _Session()
    guard = _guard()
    mine = SecretIdent("5ad0b6a8-4c1a-4b65-8c8c-8a21f1a3a001", 1, "alice-disk")
    other = SecretIdent("5ad0b6a8-4c1a-4b65-8c8c-8a21f1a3a002", 1, "bob-disk")
    assert guard.event_visible(sess, "secret", mine)
    assert not guard.event_visible(sess, "secret", other)


def test_every_carried_kind_has_a_rule_and_unknown_kinds_are_withheld() -> None:
    sess: Any = _Session()
    guard = _guard()
    dom = DomainIdent("alice-vm", "5ad0b6a8-4c1a-4b65-8c8c-8a21f1a3a003", 1)
    assert guard.event_visible(sess, "domain", dom)
    from virtkit.daemon import guard as guard_module

    assert set(KINDS) <= set(guard_module._EVENT_OBJECTS)
    assert not guard.event_visible(sess, "no-such-kind", dom)
