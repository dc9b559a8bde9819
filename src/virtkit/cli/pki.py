"""virtkit's TLS certificate commands: pki-ca, pki-server, pki-client (no connection needed).

Three commands give a working TLS set-up in libvirt's layout; see
docs/security.md and :mod:`virtkit.pki`."""

from __future__ import annotations

import os

from virtkit.cli.framework import Cmd, CmdFailed, CommandDef, Ctl, specs_to_defs
from virtkit.cli.specs import GROUPS

TYPE_CHECKING = False  # typing is not imported at run time (startup speed)
if TYPE_CHECKING:
    from virtkit.pki import Layout

__all__ = ["COMMANDS"]


def _layouts(ctl: Ctl, cmd: Cmd, *, user_dir: bool = False) -> tuple[Layout, Layout]:
    """(where to write, where the CA is) from --dir, --root and --ca-dir."""
    from virtkit.pki import Layout, ca_layout

    out_dir, root = ctl.opt_string(cmd, "dir"), ctl.opt_string(cmd, "root")
    if out_dir is not None and root is not None:
        ctl.error("Options --dir and --root are mutually exclusive")
        raise CmdFailed
    ca_dir = ctl.opt_string(cmd, "ca-dir") if cmd.definition.option("ca-dir") else None
    system = Layout.system(root or "/")
    if out_dir is not None:
        out = Layout.directory(out_dir)
    elif user_dir and root is None and os.geteuid() != 0:
        out = Layout.directory(os.path.join(os.path.expanduser("~"), ".pki", "libvirt"))
    else:
        out = system
    ca = ca_layout(ca_dir) if ca_dir is not None else out if out_dir else system
    return out, ca


def _numbers(ctl: Ctl, cmd: Cmd, days: int) -> dict[str, int]:
    from virtkit.pki import DEFAULT_BITS

    return {"days": ctl.opt_int(cmd, "days", lo=1, hi=36500) or days,
            "bits": ctl.opt_int(cmd, "bits", lo=2048, hi=16384) or DEFAULT_BITS}


def cmd_pki_ca(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.pki import DEFAULT_DAYS_CA, make_ca

    out, _ = _layouts(ctl, cmd)
    dn = ctl.opt_string(cmd, "dn") or "O=virtkit,CN=virtkit CA"
    make_ca(out, dn=dn, force=cmd.flag("force"), **_numbers(ctl, cmd, DEFAULT_DAYS_CA))
    ctl.print(f"CA certificate: {out.cacert}\nCA private key: {out.cakey}\n")
    return True


def cmd_pki_server(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.pki import DEFAULT_DAYS, make_server

    hosts = [h.strip() for h in ctl.opt_required(cmd, "host").split(",")]
    out, ca = _layouts(ctl, cmd)
    cert = make_server(out, hosts, ca=ca, dn=ctl.opt_string(cmd, "dn"),
                       force=cmd.flag("force"), **_numbers(ctl, cmd, DEFAULT_DAYS))
    from virtkit.rpc.tls import distinguished_name

    ctl.print(f"Server certificate: {out.servercert}\nServer private key: {out.serverkey}\n"
              f"Distinguished Name: {distinguished_name(cert)}\n")
    return True


def cmd_pki_client(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.pki import DEFAULT_DAYS, make_client

    dn = ctl.opt_required(cmd, "dn")
    out, ca = _layouts(ctl, cmd, user_dir=True)
    cert = make_client(out, dn, ca=ca, force=cmd.flag("force"),
                       **_numbers(ctl, cmd, DEFAULT_DAYS))
    from virtkit.rpc.tls import distinguished_name

    ctl.print(f"Client certificate: {out.clientcert}\nClient private key: {out.clientkey}\n"
              f"Distinguished Name: {distinguished_name(cert)}\n")
    return True


def cmd_pki_qemu(ctl: Ctl, cmd: Cmd) -> bool:
    """QEMU's x509 credentials for TLS migration in one directory (default
    ROOT/etc/pki/qemu), signed by the CA of --ca-dir (default ROOT/etc/pki/CA)."""
    from virtkit.pki import DEFAULT_DAYS, Layout, ca_layout, make_client, make_server

    hosts = [h.strip() for h in ctl.opt_required(cmd, "host").split(",")]
    out_dir, root = ctl.opt_string(cmd, "dir"), ctl.opt_string(cmd, "root")
    if out_dir is not None and root is not None:
        ctl.error("Options --dir and --root are mutually exclusive")
        raise CmdFailed
    qemu_dir = out_dir or os.path.join(root or "/", "etc", "pki", "qemu")
    ca_dir = ctl.opt_string(cmd, "ca-dir")
    ca = ca_layout(ca_dir) if ca_dir is not None else Layout.system(root or "/")

    def j(name: str) -> str:
        return os.path.join(qemu_dir, name)

    out = Layout(j("ca-cert.pem"), ca.cakey, j("server-cert.pem"), j("server-key.pem"),
                 j("client-cert.pem"), j("client-key.pem"))
    days, bits = _numbers(ctl, cmd, DEFAULT_DAYS).values()
    server = make_server(out, hosts, ca=ca, force=cmd.flag("force"), days=days, bits=bits)
    dn = ctl.opt_string(cmd, "client-dn") or server.subject.rfc4514_string()
    make_client(out, dn, ca=ca, force=cmd.flag("force"), days=days, bits=bits)
    ctl.print(f"CA certificate: {out.cacert}\nServer certificate: {out.servercert}\n"
              f"Server private key: {out.serverkey}\nClient certificate: {out.clientcert}\n"
              f"Client private key: {out.clientkey}\n")
    return True


COMMANDS: dict[str, CommandDef] = specs_to_defs(
    next(cmds for _, kw, _, cmds in GROUPS if kw == "pki"),
    {"pki-ca": cmd_pki_ca, "pki-server": cmd_pki_server, "pki-client": cmd_pki_client,
     "pki-qemu": cmd_pki_qemu},
    noconnect=("pki-ca", "pki-server", "pki-client", "pki-qemu"),
)
