"""virtkitd's TLS listener settings, as ``remote_daemon.c: daemonSetupNetworking`` reads them.

``key_file``/``cert_file``/``ca_file`` (all three, checked by
:func:`virtkit.daemon.config.plan_listeners`) with the optional ``crl_file``
are used as written; without them libvirt's default files are used, under the
daemon's ``--root``: ``/etc/pki/CA/cacert.pem``, ``/etc/pki/CA/cacrl.pem``
(when present), ``/etc/pki/libvirt/servercert.pem`` and
``/etc/pki/libvirt/private/serverkey.pem``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from virtkit.rpc.tls import Credentials, ServerTLSContext

if TYPE_CHECKING:
    from virtkit.daemon.config import DaemonConfig
    from virtkit.daemon.paths import DaemonPaths

__all__ = ["server_tls_context"]


def server_tls_context(config: DaemonConfig, paths: DaemonPaths) -> ServerTLSContext:
    """The TLS context of the ``listen_tls`` socket (libvirt's errors for bad files)."""
    if config.ca_file and config.cert_file and config.key_file:
        creds = Credentials(config.ca_file, config.crl_file or None, config.cert_file,
                            config.key_file)
    else:
        creds = Credentials(paths.tls_ca_cert, paths.tls_ca_crl, paths.tls_server_cert,
                            paths.tls_server_key)
    return ServerTLSContext(
        creds,
        dn_acl=config.tls_allowed_dn_list,
        priority=config.tls_priority,
        sanity=not config.tls_no_sanity_certificate,
        require_valid_cert=not config.tls_no_verify_certificate,
    )
