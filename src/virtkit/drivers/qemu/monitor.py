"""A synchronous QMP monitor over qemu.qmp, usable from any thread.

All monitors share one asyncio loop running in a daemon thread
(``virtkit-qmp``, started on first use); each monitor is one
``qemu.qmp.QMPClient`` on that loop. ``execute`` hands the command to the
loop and waits for its reply. Each monitor delivers its QMP events and the
loss of its connection, in order, on a thread of its own
(``virtkit-qemu-events-NAME``, a daemon thread that ends after the monitor
closes), so a callback may itself call ``execute`` and a callback that blocks
delays only the events of its own QEMU. A callback that raises is logged with
the monitor's name; delivery goes on.

Errors are libvirt's: a QMP error reply is "internal error: unable to execute
QEMU command 'CMD': DESC"; a command on a monitor whose QEMU went away is
"internal error: End of file from qemu monitor (vm='NAME')".
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from qemu.qmp import ExecInterruptedError, ExecuteError, QMPClient, QMPError, Runstate
from qemu.qmp.message import Message

from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["EventCallback", "Monitor"]

log = logging.getLogger(__name__)

EventCallback = Callable[[str, dict[str, Any], float], None]

_DOMAIN = ErrorDomain.QEMU
_CLOSE_TIMEOUT = 5.0


# -- the shared loop and each monitor's event thread --------------------------------------

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_thread: threading.Thread | None = None


def _get_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_thread
    with _lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            _loop_thread = threading.Thread(target=run, name="virtkit-qmp", daemon=True)
            _loop_thread.start()
            ready.wait()
            _loop = loop
        return _loop


class _EventThread:
    """One monitor's event delivery: a queue and a supervised daemon thread that calls
    the callbacks in order (started on the first event, ended by ``stop``)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._queue: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]] | None] = (
            queue.SimpleQueue())
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()
        self._stopped = False

    def put(self, fn: Callable[..., None], *args: Any) -> None:
        with self._mutex:
            if self._stopped:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name=f"virtkit-qemu-events-{self.label}")
                self._thread.start()
            self._queue.put((fn, args))

    def stop(self) -> None:
        """End the thread after what is queued (idempotent)."""
        with self._mutex:
            if self._stopped:
                return
            self._stopped = True
            if self._thread is not None:
                self._queue.put(None)

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, args = item
            try:
                fn(*args)
            except Exception:  # supervised: logged with the domain, delivery goes on
                log.exception("QMP event callback of %s failed", self.label)


def _on_loop_thread() -> bool:
    return threading.current_thread() is _loop_thread


# -- the client ---------------------------------------------------------------------------


class _Client(QMPClient):
    """QMPClient whose events go straight to a callback.

    The default ``events`` listener keeps every event in a history list and
    an unbounded queue; a long-running guest must not grow either.
    """

    def __init__(self, name: str, sink: Callable[[Message], None]) -> None:
        super().__init__(name)
        self._sink = sink

    async def _event_dispatch(self, msg: Message) -> None:
        self._sink(msg)

    # qemu.qmp formats every message as indented JSON for a debug log line
    # even when debug logging is off: half of a command's client-side cost.
    def _cb_outbound(self, msg: Message) -> Message:
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("--> %s", msg)
        return msg

    def _cb_inbound(self, msg: Message) -> Message:
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("<-- %s", msg)
        return msg


def _timestamp(msg: Message) -> float:
    ts = msg.get("timestamp")
    if isinstance(ts, dict):
        return float(ts.get("seconds", 0)) + float(ts.get("microseconds", 0)) / 1e6
    return time.time()


class Monitor:
    """One QMP connection to one QEMU, usable from any thread."""

    def __init__(self, client: _Client, vm_name: str, socket_path: str,
                 on_disconnect: Callable[[], None] | None,
                 events: _EventThread | None = None) -> None:
        self._client = client
        self._events = events if events is not None else _EventThread(vm_name or socket_path)
        self._loop = _get_loop()
        self.vm_name = vm_name
        self.socket_path = socket_path
        self._on_disconnect = on_disconnect
        self._closed_by_us = False
        self._lost = False
        self._shutdown_task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Monitor {self.socket_path} {state}>"

    # -- connect -----------------------------------------------------------------------

    @classmethod
    def connect(cls, socket_path: str, *, timeout: float = 10.0,
                on_event: EventCallback | None = None,
                on_disconnect: Callable[[], None] | None = None,
                vm_name: str = "",
                abort_if: Callable[[], bool] | None = None,
                label: str = "") -> Monitor:
        """Connect to QEMU's QMP socket and negotiate capabilities.

        Retries while the socket is missing or refuses (QEMU is starting)
        until ``timeout``, or until ``abort_if()`` is true (e.g. QEMU died).
        ``on_event(name, data, timestamp)`` gets every event, in order;
        ``on_disconnect()`` is called once when QEMU closes the connection
        (not after ``close()``). Both run on this monitor's event thread
        (``virtkit-qemu-events-LABEL``; ``label`` defaults to ``vm_name``, else the
        socket path).
        Raises VirtError: SYSTEM_ERROR "failed to connect to monitor socket"
        or INTERNAL_ERROR "qemu unexpectedly closed the monitor".
        """
        if _on_loop_thread():
            raise RuntimeError("Monitor.connect() called on the QMP loop thread")
        loop = _get_loop()
        deadline = time.monotonic() + timeout
        sock = _connect_socket(socket_path, deadline, abort_if)
        events = _EventThread(label or vm_name or socket_path)

        def sink(msg: Message) -> None:
            if on_event is not None:
                data = msg.get("data")
                events.put(on_event, str(msg.get("event")),
                           data if isinstance(data, dict) else {}, _timestamp(msg))

        async def open_client() -> _Client:
            client = _Client(vm_name or socket_path, sink)
            await client.connect(sock)
            return client

        fut = asyncio.run_coroutine_threadsafe(open_client(), loop)
        try:
            client = fut.result(max(deadline - time.monotonic(), 0.5))
        except concurrent.futures.TimeoutError:
            fut.cancel()
            sock.close()
            events.stop()
            raise make_error(ErrorCode.OPERATION_TIMEOUT, _DOMAIN,
                             f"QEMU did not greet on its monitor {socket_path}") from None
        except QMPError as exc:
            sock.close()
            events.stop()
            raise make_error(ErrorCode.INTERNAL_ERROR, _DOMAIN,
                             "qemu unexpectedly closed the monitor") from exc
        mon = cls(client, vm_name, socket_path, on_disconnect, events)
        asyncio.run_coroutine_threadsafe(mon._watch(), loop)
        return mon

    # -- commands ----------------------------------------------------------------------

    def execute(self, cmd: str, args: Mapping[str, Any] | None = None, *,
                timeout: float | None = 30.0, fd: int | None = None) -> Any:
        """Run QMP command ``cmd`` and return its ``return`` value; ``fd`` travels with it
        (SCM_RIGHTS on the monitor socket, for ``getfd``/``add-fd``)."""
        if _on_loop_thread():
            raise RuntimeError("Monitor.execute() called on the QMP loop thread")
        if self._closed_by_us:
            raise make_error(ErrorCode.OPERATION_FAILED, _DOMAIN, "domain is no longer running")
        if self._lost or self._client.runstate != Runstate.RUNNING:
            raise self._eof_error()
        fut = asyncio.run_coroutine_threadsafe(self._send(cmd, args, fd), self._loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise make_error(ErrorCode.OPERATION_TIMEOUT, _DOMAIN,
                             f"QEMU command '{cmd}' got no reply within {timeout:g} s") from None
        except ExecuteError as exc:
            raise make_error(ErrorCode.INTERNAL_ERROR, _DOMAIN,
                             f"unable to execute QEMU command '{cmd}': "
                             f"{exc.error.error.desc or 'unknown QEMU command error'}") from None
        except (ExecInterruptedError, EOFError, ConnectionError) as exc:
            if self._closed_by_us:
                raise make_error(ErrorCode.OPERATION_FAILED, _DOMAIN,
                                 "domain is no longer running") from exc
            raise self._eof_error() from exc
        except QMPError as exc:  # StateError (not connected), malformed replies
            if self._closed_by_us:
                raise make_error(ErrorCode.OPERATION_FAILED, _DOMAIN,
                                 "domain is no longer running") from exc
            if self._client.runstate != Runstate.RUNNING:
                raise self._eof_error() from exc
            raise make_error(ErrorCode.INTERNAL_ERROR, _DOMAIN,
                             f"unable to execute QEMU command '{cmd}'") from exc

    async def _send(self, cmd: str, args: Mapping[str, Any] | None, fd: int | None) -> Any:
        if fd is not None:  # qemu.qmp sends it with the next message, on its loop
            self._client.send_fd_scm(fd)
        return await self._client.execute(cmd, args)

    def _eof_error(self) -> VirtError:
        return make_error(ErrorCode.INTERNAL_ERROR, _DOMAIN,
                          f"End of file from qemu monitor (vm='{self.vm_name}')")

    # -- closing -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the connection is gone (closed here or by QEMU)."""
        return self._closed_by_us or self._lost or self._client.runstate != Runstate.RUNNING

    def close(self) -> None:
        """Disconnect (idempotent). ``on_disconnect`` is not called for this."""
        if self._closed_by_us:
            return
        self._closed_by_us = True
        if _on_loop_thread():
            raise RuntimeError("Monitor.close() called on the QMP loop thread")
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        with contextlib.suppress(Exception):
            fut.result(_CLOSE_TIMEOUT)

    async def _shutdown(self) -> None:
        # One disconnect even when close() and a hang-up race.
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.ensure_future(self._disconnect())
        await asyncio.shield(self._shutdown_task)

    async def _disconnect(self) -> None:
        with contextlib.suppress(Exception):  # EOFError etc. from the bottom half
            await self._client.disconnect()

    async def _watch(self) -> None:
        client = self._client
        while client.runstate == Runstate.RUNNING:
            await client.runstate_changed()
        await self._shutdown()
        if not self._closed_by_us:
            self._lost = True
            log.debug("QMP connection %s lost", self.socket_path)
            if self._on_disconnect is not None:
                self._events.put(self._on_disconnect)
        self._events.stop()  # after the events already queued

    @property
    def event_thread(self) -> threading.Thread | None:
        """The thread delivering this monitor's events (None before the first one)."""
        return self._events.thread


def _connect_socket(path: str, deadline: float,
                    abort_if: Callable[[], bool] | None) -> socket.socket:
    delay = 0.001
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            sock.close()
            if (abort_if is not None and abort_if()) or time.monotonic() + delay > deadline:
                raise VirtError(f"failed to connect to monitor socket: {exc.strerror}",
                                code=ErrorCode.SYSTEM_ERROR, domain=_DOMAIN,
                                int1=exc.errno or 0) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.005)  # QEMU is up within tens of ms: poll finely
            continue
        except OSError as exc:
            sock.close()
            raise VirtError(f"failed to connect to monitor socket: "
                            f"{exc.strerror or os.strerror(exc.errno or errno.EIO)}",
                            code=ErrorCode.SYSTEM_ERROR, domain=_DOMAIN,
                            int1=exc.errno or 0) from None
        sock.setblocking(False)
        return sock
