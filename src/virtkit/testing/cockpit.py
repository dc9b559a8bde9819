"""Cockpit's Machines page against a virtkitd node, for the interop tests.

:class:`CockpitStack` runs, without systemd and without touching the host's buses or
/run/libvirt:

- a private D-Bus *system* bus (``dbus-daemon`` with a config written here that lets
  root own and call every name, listening on a socket in the work directory);
- ``libvirt-dbus --system`` on that bus. It opens the fixed URI ``qemu:///system``
  (libvirt's ``uri_aliases`` cannot rename a URI containing ``:`` and
  ``LIBVIRT_DEFAULT_URI`` only applies to a NULL URI), so it runs in a private mount
  namespace (``unshare --mount``) where virtkitd's socket directory is bind-mounted
  over /run/libvirt: libvirt's client finds ``libvirt-sock`` there and talks to virtkitd;
- ``cockpit-ws --no-tls --local-session=cockpit-bridge`` on 127.0.0.1 (no login: the
  bridge runs as the current user) in the same kind of namespace, with
  ``DBUS_SYSTEM_BUS_ADDRESS`` pointing at the private bus.

:class:`Chromium` is Debian's headless ``chromium`` driven over the DevTools protocol
(a minimal websocket client on the standard library): load a page, evaluate
JavaScript, wait for a condition, take PNG screenshots.

Every process is started in its own session; stopping signals that process group only.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shlex
import socket
import struct
import subprocess
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from virtkit.testing.peers import free_port
from virtkit.testing.procgroup import stop_group, wait_ready

__all__ = ["Chromium", "CockpitStack", "DevTools", "PageError", "cockpit_available"]

COCKPIT_WS = "/usr/lib/cockpit/cockpit-ws"
LIBVIRT_DBUS = "/usr/sbin/libvirt-dbus"
CHROMIUM = "/usr/bin/chromium"
DBUS_DAEMON = "/usr/bin/dbus-daemon"
MACHINES = "/usr/share/cockpit/machines/manifest.json"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


def cockpit_available() -> list[str]:
    """The programs this module needs that are missing (empty when all are there)."""
    needed = (COCKPIT_WS, LIBVIRT_DBUS, CHROMIUM, DBUS_DAEMON, MACHINES, "/usr/bin/unshare")
    return [p for p in needed if not os.path.exists(p)]




class CockpitStack:
    """Private bus + libvirt-dbus + cockpit-ws serving Cockpit for ``libvirt_run``
    (a virtkitd's ``ROOT/run/libvirt``, seen as /run/libvirt by libvirt-dbus)."""

    def __init__(self, workdir: Path, libvirt_run: Path) -> None:
        self.workdir = workdir
        self.libvirt_run = libvirt_run
        self.bus_path = workdir / "system_bus_socket"
        self.port = 0
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def bus_address(self) -> str:
        return f"unix:path={self.bus_path}"

    def log(self, name: str) -> Path:
        """The log file of ``dbus``, ``libvirt-dbus`` or ``cockpit-ws``."""
        return self.workdir / f"{name}.log"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _env(self) -> dict[str, str]:
        # the system's PATH, as for a service: the page runs ``python3`` (its OS list
        # comes from Debian's python3-gi + libosinfo) and virt-install found there
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus_address, LANG="C.UTF-8",
                   PATH=SYSTEM_PATH)
        env.pop("LIBVIRT_DEFAULT_URI", None)
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        return env

    def _spawn(self, name: str, argv: list[str], private_run: bool = False,
               env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        if private_run:
            script = ("mount --bind \"$1\" /run/libvirt && shift && exec \"$@\"")
            argv = ["unshare", "--mount", "--propagation", "private", "--",
                    "sh", "-c", script, "sh", str(self.libvirt_run), *argv]
        with open(self.log(name), "ab") as out:
            out.write(f"$ {shlex.join(argv)}\n".encode())
            out.flush()
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env or self._env(),
                                    cwd=self.workdir, start_new_session=True)
        self._procs.append(proc)
        return proc

    def _name_has_owner(self, name: str) -> bool:
        done = subprocess.run(
            ["dbus-send", f"--bus={self.bus_address}", "--print-reply",
             "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
             "org.freedesktop.DBus.NameHasOwner", f"string:{name}"],
            capture_output=True, text=True, timeout=10, check=False)
        return done.returncode == 0 and "boolean true" in done.stdout

    def start(self, timeout: float = 30.0) -> None:
        """Start the bus, libvirt-dbus and cockpit-ws; wait until each is ready."""
        missing = cockpit_available()
        if missing:
            raise RuntimeError(f"missing {missing}: run `make sysdeps` (scripts/sysdeps.py)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        # /run/libvirt is the mount point in the namespaces (libvirt-daemon makes it)
        os.makedirs("/run/libvirt", exist_ok=True)
        conf = self.workdir / "system-bus.conf"
        conf.write_text(_BUS_CONF.format(path=self.bus_path))
        bus = self._spawn("dbus", [DBUS_DAEMON, f"--config-file={conf}", "--nofork",
                                   "--nopidfile", "--nosyslog"])
        wait_ready(self.bus_path.exists, "dbus-daemon", timeout, bus, self.log("dbus"))
        lvd = self._spawn("libvirt-dbus", [LIBVIRT_DBUS, "--system"], private_run=True)
        wait_ready(lambda: self._name_has_owner("org.libvirt"), "libvirt-dbus", timeout, lvd,
              self.log("libvirt-dbus"))
        self.port = free_port()
        ws = self._spawn("cockpit-ws", [
            COCKPIT_WS, "--no-tls", "--address", "127.0.0.1", "--port", str(self.port),
            "--local-session=cockpit-bridge"], private_run=True)

        def listening() -> bool:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True

        wait_ready(listening, "cockpit-ws", timeout, ws, self.log("cockpit-ws"))

    def stop(self) -> None:
        for proc in reversed(self._procs):
            stop_group(proc)
        self._procs.clear()

    def __enter__(self) -> CockpitStack:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class DevTools:
    """A minimal client of one DevTools websocket (text frames; RFC 6455)."""

    def __init__(self, ws_url: str, timeout: float = 60.0) -> None:
        rest = ws_url.removeprefix("ws://")
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.partition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("DevTools closed the handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"DevTools refused the websocket: {head!r}")
        self._next_id = 0

    def _recv_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            data += chunk
        return data

    def _send(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def _recv(self) -> str:
        message = b""
        while True:
            b0, b1 = self._recv_exact(2)
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", self._recv_exact(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", self._recv_exact(8))
            data = self._recv_exact(n)
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the websocket")
            if opcode in (0x9, 0xA):  # ping/pong: not sent by DevTools to clients
                continue
            message += data
            if b0 & 0x80:
                return message.decode()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command; skip events until its reply; its ``result``.

        A JavaScript dialog opening meanwhile (Cockpit's "leave this page?" while a
        console is connected would block a navigation) is accepted."""
        self._next_id += 1
        want = self._next_id
        self._send(json.dumps({"id": want, "method": method, "params": params}))
        while True:
            reply = json.loads(self._recv())
            if reply.get("method") == "Page.javascriptDialogOpening":
                self._next_id += 1
                self._send(json.dumps({"id": self._next_id,
                                       "method": "Page.handleJavaScriptDialog",
                                       "params": {"accept": True}}))
                continue
            if reply.get("id") == want:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    def close(self) -> None:
        self.sock.close()


class PageError(RuntimeError):
    """JavaScript evaluated in the page threw."""


class Chromium:
    """Headless Debian chromium with one page, driven over DevTools."""

    def __init__(self, workdir: Path, width: int = 1400, height: int = 1000) -> None:
        self.workdir = workdir
        self.size = (width, height)
        self.proc: subprocess.Popen[bytes] | None = None
        self.tools: DevTools | None = None

    @property
    def log(self) -> Path:
        return self.workdir / "chromium.log"

    def start(self, timeout: float = 60.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        profile = self.workdir / "profile"
        port = free_port()
        argv = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--disable-dev-shm-usage", "--disable-extensions",
                f"--window-size={self.size[0]},{self.size[1]}", "--lang=en-US",
                "--remote-debugging-address=127.0.0.1", f"--remote-debugging-port={port}",
                f"--user-data-dir={profile}", "about:blank"]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        pages: list[dict[str, Any]] = []

        def page_listed() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                pages[:] = [t for t in json.load(r) if t.get("type") == "page"]
            return bool(pages)

        wait_ready(page_listed, "chromium", timeout, self.proc, self.log)
        self.tools = DevTools(pages[0]["webSocketDebuggerUrl"])
        self.tools.call("Page.enable")
        self.tools.call("Runtime.enable")

    def _devtools(self) -> DevTools:
        if self.tools is None:
            raise RuntimeError("chromium is not started")
        return self.tools

    def goto(self, url: str) -> None:
        self._devtools().call("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self._devtools().call("Runtime.evaluate", expression=expression,
                                       returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise PageError(f"{expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60.0) -> Any:
        """Poll ``expression`` until truthy (a hang guard); its value, or None if never.
        An exception in the page counts as not yet (a page still loading has no body)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(PageError):
                value = self.evaluate(expression)
                if value:
                    return value
            time.sleep(0.25)
        return None

    def set_value(self, selector: str, value: str) -> None:
        """Set a React-controlled ``input``/``textarea``/``select`` (the first element
        matching the CSS ``selector``) as typing or choosing would: the prototype's value
        setter, then the ``input`` (or ``change``) event React listens to."""
        self.evaluate(f"""(() => {{
            const e = document.querySelector({json.dumps(selector)});
            const proto = {{TEXTAREA: HTMLTextAreaElement, SELECT: HTMLSelectElement}}
                [e.tagName] || HTMLInputElement;
            const setter = Object.getOwnPropertyDescriptor(proto.prototype, 'value').set;
            setter.call(e, {json.dumps(value)});
            e.dispatchEvent(new Event(e.tagName == 'SELECT' ? 'change' : 'input',
                                      {{bubbles: true}}));
        }})()""")

    def type_keys(self, text: str) -> None:
        """Key presses of ``text`` into the focused element ("\\r" is Enter), for widgets
        that read keyboard events rather than values (xterm.js)."""
        tools = self._devtools()
        for ch in text:
            down: dict[str, Any] = {"type": "keyDown", "key": ch, "text": ch}
            if ch == "\r":
                down.update(key="Enter", code="Enter", windowsVirtualKeyCode=13)
            tools.call("Input.dispatchKeyEvent", **down)
            tools.call("Input.dispatchKeyEvent", type="keyUp", key=down["key"])

    def screenshot(self, path: Path) -> Path:
        data = self._devtools().call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def stop(self) -> None:
        if self.tools is not None:
            self.tools.close()
            self.tools = None
        if self.proc is not None:
            stop_group(self.proc)
            self.proc = None

    def __enter__(self) -> Chromium:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
