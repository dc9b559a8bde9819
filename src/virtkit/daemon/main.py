"""``virtkitd``: the daemon entry point (libvirtd's command line and life cycle).

Start-up order is libvirtd's: options, config file, logging, then (with
``--daemon``) the fork into the background, the pid file, the run
directories, the server and its sockets, and only then the "started"
signal to the waiting parent.  Exit statuses are libvirtd's: 1 for bad
options or config, then ``VIR_DAEMON_ERR_*`` (1 pid file, 2 run directory,
3 initialisation, 6 network sockets).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import stat
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from virtkit import __version__, hostid
from virtkit.daemon import process
from virtkit.daemon.config import (
    ConfigError,
    DaemonConfig,
    Listener,
    host_uuid,
    load_config,
    plan_listeners,
)
from virtkit.daemon.logsetup import (
    LogSetupError,
    early_logging,
    resolve_settings,
    setup_logging,
)
from virtkit.daemon.options import DaemonOptions, OptionsExit, parse_args
from virtkit.daemon.paths import DaemonPaths
from virtkit.daemon.pidfile import PidFile, PidFileError
from virtkit.rpc.message import MESSAGE_MAX

if TYPE_CHECKING:
    from virtkit.daemon.admin import LogControl

log = logging.getLogger("virtkit.daemon")

PROG = "virtkitd"
_STOP_GRACE = 10.0


def main(argv: list[str] | None = None) -> int:
    """Run ``virtkitd`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    try:
        opts = parse_args(sys.argv[1:] if argv is None else argv, prog=PROG)
    except OptionsExit as e:
        (sys.stdout if e.stdout else sys.stderr).write(e.text)
        return e.status
    early_logging()

    paths = DaemonPaths(opts.root)
    try:
        config = load_config(opts.config_file, paths)
    except ConfigError as e:
        log.error("Can't load config file: %s: %s", e, opts.config_file or paths.config_file)
        return 1
    try:
        configured_uuid = host_uuid(config, paths)
    except ConfigError as e:
        log.error("%s", e)
        log.error("Can't setup host uuid")
        return 1
    hostid.set_configured(configured_uuid)  # virSetHostUUIDStr: capabilities, cookies
    pid_file = opts.pid_file
    if pid_file:
        pid_file = os.path.abspath(pid_file)  # --daemon changes directory to /
    paths = paths.with_settings(unix_sock_dir=config.unix_sock_dir, pid_file=pid_file)

    try:
        settings = resolve_settings(
            log_level=config.log_level, log_filters=config.log_filters,
            log_outputs=config.log_outputs, verbose=opts.verbose, daemon=opts.daemon,
            log_file=paths.log_file)
        for warning in setup_logging(settings):
            log.warning("%s", warning)
    except LogSetupError as e:
        log.error("%s", e)
        return 1
    from virtkit.daemon.admin import LogControl

    logctl = LogControl.for_daemon(settings, daemon=opts.daemon, log_file=paths.log_file)

    try:
        listeners = plan_listeners(config, paths, listen=opts.listen)
    except ConfigError as e:
        log.error("%s", e)
        return process.ERR_NETWORK

    status = process.StatusPipe()
    if opts.daemon:
        try:
            os.chdir("/")
            forked = process.daemonize(PROG)
        except OSError as e:
            log.error("Failed to fork as daemon: %s", e.strerror)
            return 1
        if isinstance(forked, int):
            return forked
        status = forked

    code = _run_daemon(opts, config, paths, listeners, status, logctl)
    if code:
        status.failed(code)
    return code


def _run_daemon(opts: DaemonOptions, config: DaemonConfig, paths: DaemonPaths,
                listeners: list[Listener], status: process.StatusPipe,
                logctl: LogControl | None = None) -> int:
    # The directories come first so that the pid file's (<root>/run) exists.
    try:
        paths.ensure_dirs()
    except OSError as e:
        log.error("unable to create rundir %s: %s", e.filename or paths.run_dir, e.strerror)
        return process.ERR_RUNDIR
    pidfile = PidFile(paths.pid_file)
    try:
        pidfile.acquire()
    except PidFileError as e:
        log.error("%s", e)
        return process.ERR_PIDFILE
    try:
        process.set_child_subreaper()
        return asyncio.run(_serve(opts, config, paths, listeners, status, logctl))
    finally:
        pidfile.release()


async def _serve(opts: DaemonOptions, config: DaemonConfig, paths: DaemonPaths,
                 listeners: list[Listener], status: process.StatusPipe,
                 logctl: LogControl | None = None) -> int:
    from virtkit.daemon.admin import AdminDispatcher, AutoShutdown, update_tls_files
    from virtkit.daemon.dispatch import RemoteDispatcher
    from virtkit.daemon.guard import PolicyError
    from virtkit.daemon.reload import reload_daemon
    from virtkit.drivers.state import OpenContext, StateDrivers
    from virtkit.rpc.server import Server

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    try:
        ctx = OpenContext(paths.root)
        states = StateDrivers(ctx)
        dispatcher = RemoteDispatcher(config, paths, context=ctx)
        server = Server(
            dispatcher,
            max_clients=config.max_clients,
            max_anonymous_clients=config.max_anonymous_clients,
            max_workers=config.max_workers,
            min_workers=config.min_workers,
            prio_workers=config.prio_workers,
            max_client_requests=config.max_client_requests,
            max_message=MESSAGE_MAX,
            keepalive_interval=config.keepalive_interval,
            keepalive_count=config.keepalive_count,
            auth_timeout=config.auth_timeout,
            call_rate=config.max_client_call_rate,
            call_burst=config.max_client_call_burst,
            max_anonymous_message=config.max_anonymous_message,
            services_enabled=False,
        )
        # The admin server (virt-admin): libvirtd's "admin" server, no priority workers.
        shutdown = AutoShutdown(opts.timeout)
        admin = AdminDispatcher(
            {"libvirtd": server}, logging_control=logctl, shutdown=shutdown,
            tls_update=lambda srv: update_tls_files(srv, config, paths))
        admin_server = Server(
            admin, name="admin",
            max_clients=config.admin_max_clients, max_anonymous_clients=0,
            min_workers=config.admin_min_workers, max_workers=config.admin_max_workers,
            prio_workers=0, max_client_requests=config.admin_max_client_requests,
            keepalive_interval=config.admin_keepalive_interval,
            keepalive_count=config.admin_keepalive_count, services_enabled=False)
        admin.servers["admin"] = admin_server
        servers = [server, admin_server]
        # System drivers (qemu:///system) live in this process, under the daemon's root:
        # initialised and autostarted in the background, as libvirtd's state drivers; the
        # servers accept clients only after that (libvirt's daemonRunStateInit), so no
        # client races the autostart of an object or sees a driver half-loaded.
        threading.Thread(target=_init_states, args=(states, servers, loop),
                         name="virtkit-state-init", daemon=True).start()
    except PolicyError as e:
        log.error("Unable to initialize the access control: %s", e)
        return process.ERR_INIT
    except Exception:
        log.exception("Unable to initialize the daemon")
        return process.ERR_INIT

    def on_stop(signum: int) -> None:
        log.info("Received signal %d (%s), shutting down", signum,
                 signal.Signals(signum).name)
        stop.set()

    reloading: list[asyncio.Future[bool]] = []

    def on_reload() -> None:
        # As libvirtd: in a thread (the loop keeps serving), one reload at a time.
        if reloading:
            log.warning("a reload is already under way; SIGHUP ignored")
            return
        log.info("Reloading configuration on SIGHUP")
        fut = loop.run_in_executor(None, functools.partial(
            reload_daemon, dispatcher, server, config, paths, states,
            tls=any(x.tls for x in listeners)))
        reloading.append(fut)
        fut.add_done_callback(reloaded)

    def reloaded(fut: asyncio.Future[bool]) -> None:
        reloading.clear()
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            log.error("reload failed: %s", exc)
        elif fut.result():
            log.info("reload done")
        else:
            log.warning("reload done, with errors (see above)")

    reaper = process.OrphanReaper(loop)
    try:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_stop, signum)
        loop.add_signal_handler(signal.SIGHUP, on_reload)
        loop.add_signal_handler(signal.SIGCHLD, reaper.notify)
    except (OSError, RuntimeError, ValueError) as e:
        log.error("Unable to setup signal handlers: %s", e)
        return process.ERR_SIGNAL

    opened: list[str] = []
    try:
        _remove_stale_socket(paths.sock_admin)
        await admin_server.listen_unix(paths.sock_admin,
                                       mode=config.perms("unix_sock_admin_perms"))
        opened.append(paths.sock_admin)
        for listener in listeners:
            if listener.kind == "unix":
                _remove_stale_socket(listener.path)
                await server.listen_unix(listener.path, mode=listener.mode,
                                         group=listener.gid, readonly=listener.readonly,
                                         auth=listener.auth)
                opened.append(listener.path)
            else:
                tls = None
                if listener.tls:
                    from virtkit.daemon.tlsconf import server_tls_context

                    tls = server_tls_context(config, paths)
                port = await server.listen_tcp(listener.host, listener.port,
                                               readonly=listener.readonly, auth=listener.auth,
                                               tls=tls)
                listener = Listener("tcp", host=listener.host, port=port, auth=listener.auth,
                                    tls=listener.tls)
            log.debug("listening on %s%s", listener.describe(),
                     " (read-only)" if listener.readonly else "")
    except OSError as e:
        log.error("Unable to initialize network sockets: %s", e)
        await _shutdown(servers, dispatcher, opened, reaper)
        return process.ERR_NETWORK
    except Exception as e:  # a VirtError from the TLS credentials, worded as libvirt's
        log.error("%s", e)
        await _shutdown(servers, dispatcher, opened, reaper)
        return process.ERR_NETWORK

    metrics = await _start_metrics(config, ctx)
    if metrics is False:
        await _shutdown(servers, dispatcher, opened, reaper)
        return process.ERR_NETWORK
    status.ready()
    log.info("%s %s listening on %s", PROG, __version__,
             ", ".join(x.describe() for x in listeners))
    try:
        await _wait_for_stop(stop, servers, shutdown)
    finally:
        log.info("%s shutting down", PROG)
        if metrics:
            await metrics.close()
        await _shutdown(servers, dispatcher, opened, reaper)
        states.cleanup()
    return 0


def _init_states(states: Any, servers: list[Any], loop: asyncio.AbstractEventLoop) -> None:
    """Initialise and autostart the state drivers, then let the servers accept clients."""
    try:
        states.start()
    finally:
        log.debug("state drivers initialised; accepting clients")
        with contextlib.suppress(RuntimeError):  # the loop already closed: shutting down
            loop.call_soon_threadsafe(_enable_services, servers)


def _enable_services(servers: list[Any]) -> None:
    for srv in servers:
        srv.update_services(True)


async def _start_metrics(config: DaemonConfig, ctx: Any) -> Any:
    """The Prometheus endpoint when ``prometheus_listen`` asks for one (None: off; False:
    it cannot listen)."""
    if config.prometheus_listen is None:
        return None
    from virtkit.daemon.metrics import MetricsServer, SystemTables, parse_listen

    server = MetricsServer(SystemTables(ctx))
    host, port = parse_listen(config.prometheus_listen)
    try:
        await server.listen(host, port)
    except OSError as e:
        log.error("Unable to listen for metrics on %s: %s", config.prometheus_listen, e)
        return False
    return server


async def _wait_for_stop(stop: asyncio.Event, servers: list[Any], shutdown: Any) -> None:
    """Until SIGTERM/SIGINT, or ``shutdown.timeout`` seconds without a client on any
    server (0: never; virt-admin's daemon-timeout changes it at run time)."""
    idle_since = time.monotonic()
    while not stop.is_set():
        timeout = shutdown.timeout
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), min(1.0, timeout) if timeout else 1.0)
        timeout = shutdown.timeout
        if not timeout or any(srv.clients for srv in servers):
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= timeout:
            log.info("no clients for %d seconds, exiting", timeout)
            return


async def _shutdown(servers: list[Any], dispatcher: Any, sockets: list[str],
                    reaper: process.OrphanReaper) -> None:
    for server in reversed(servers):  # the admin server first
        try:
            await server.stop(grace=_STOP_GRACE)
            await server.wait_closed()
        except Exception:
            log.exception("error while stopping the server %s", getattr(server, "name", ""))
    close = getattr(dispatcher, "close", None)
    if close is not None:
        try:
            result = close()
            if asyncio.iscoroutine(result):
                await result
        except Exception:
            log.exception("error while closing the drivers")
    reaper.close()
    for path in sockets:
        _remove_stale_socket(path)


def _remove_stale_socket(path: str) -> None:
    """Remove a unix socket left behind (we hold the pid file, so its
    daemon is gone).  Anything that is not a socket is left alone."""
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass


if __name__ == "__main__":
    sys.exit(main())
