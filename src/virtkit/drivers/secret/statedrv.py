"""The secret driver's state driver (libvirt's secretStateDriver): the daemon root's
secrets are loaded before the storage and QEMU drivers that use them."""

from __future__ import annotations

from virtkit.drivers import state
from virtkit.drivers.secret.node import SecretNode, node_for, release
from virtkit.drivers.secret.paths import SecretPaths

__all__ = ["SecretStateDriver"]


class SecretStateDriver:
    name = "secret"

    def __init__(self) -> None:
        self.node: SecretNode | None = None

    def initialize(self, ctx: state.OpenContext) -> bool:
        self.node = node_for(SecretPaths.system(ctx.root))
        return True

    def autostart(self) -> None:
        """Secrets have no autostart."""

    def reload(self) -> None:
        """secretStateReload: definitions written meanwhile are loaded."""
        if self.node is not None:
            self.node.reload()

    def cleanup(self) -> None:
        if self.node is not None:
            release(self.node)
            self.node = None


state.register("secret", SecretStateDriver)
