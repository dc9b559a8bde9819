"""virt-manager under Xvfb against a virtkitd node, for the interop tests.

:class:`VirtManagerSession` (a context manager) runs, each in a process group of its own
and stopped by pid at the end:

- ``Xvfb`` on a free display (``-displayfd``; ``-screen 0 1600x1000x24 -nolisten tcp``);
- a private session D-Bus (``dbus-daemon --session``) whose activatable services include
  the AT-SPI bus (``at-spi-bus-launcher``, which starts ``at-spi2-registryd``), started
  here with ``--launch-immediately``;
- ``virt-manager --no-fork --debug --connect qemu:///system`` in a private mount namespace
  where ``libvirt_run`` (a virtkitd's ``ROOT/run/libvirt``) is bind-mounted over
  /run/libvirt, so its ``qemu:///system`` is a local connection to virtkitd (as on a
  real host: the console comes through ``virDomainOpenGraphicsFD``). Its debug log is
  ``WORKDIR/virt-manager.log``.

Keep WORKDIR short (under /tmp, like the QEMU roots): the buses' unix sockets live in it.
On connecting, virt-manager defines and starts a storage pool "default" on
/var/lib/libvirt/images when the node has none, as it does on any local libvirt host.

HOME and the XDG directories are private (under WORKDIR); GSettings use the keyfile
backend (``WORKDIR/home/.config/glib-2.0/settings/keyfile``), written before the start:
no confirmation dialogs for power actions, CPU/memory/disk/network polling every second,
accessibility on. ``settings`` adds or overrides keys (``{"org/virt-manager/virt-manager/
stats": {"update-interval": "1"}}``, values in GVariant text form).

The accessibility tree is driven with dogtail (Debian's python3-dogtail, a system package
the venv does not see): a driver process runs ``/usr/bin/python3`` with the session's
DISPLAY and bus, reads Python snippets as JSON lines and answers with their value.
:meth:`VirtManagerSession.ui` runs one snippet (the value of its last expression is
returned; accessible nodes become ``{"role", "name"}``); the snippet sees these helpers:

- ``app()``: virt-manager's application node;
- ``window(name=None, name_re=None)``: a top-level window (frame or dialog) of the app;
- ``find(role=None, name=None, name_re=None, parent=None, showing=True, timeout=30)``:
  the first matching descendant, polled until found (``LookupError`` after ``timeout``);
  ``parent`` is a node or a window name;
- ``find_all(...)`` (same filters, no waiting), ``exists(...)``;
- ``click(...)`` (``find`` then the node's click/press/activate action, or a mouse click),
  ``mouse_click(...)`` and ``double_click(...)`` (the mouse), ``text(node)`` (its text
  interface, or its name),
  ``all_text(parent=None)`` (names and texts of showing descendants, one per line),
  ``dump(parent=None)`` (the tree as "role | name | text" lines), ``extents(node)``
  (``[x, y, width, height]`` on the screen).

The host-side helpers wrap the common ones: :meth:`click`, :meth:`double_click`,
:meth:`wait_showing`, :meth:`exists`, :meth:`find_text`, :meth:`all_text`,
:meth:`dump_tree`, :meth:`extents`,
:meth:`type_text` and :meth:`key` (xdotool), :meth:`screenshot` (``xwd -root`` written as
PNG here, no Pillow needed) and :meth:`screen` (the RGB pixels), :meth:`fail` (raises
``AssertionError`` naming a fresh screenshot and the logs). Image helpers for tests:
:class:`Image` (with :meth:`Image.crop`), :func:`decode_image` (PNG or PPM, as
``virDomainScreenshot`` answers), :func:`write_png`, :func:`read_xwd`.

Windows are named as virt-manager titles them: the list is "Virtual Machine Manager", a
VM's window "NAME on QEMU/KVM"; a VM's row in the list is a "table cell" named
"NAME\\nSTATE" ("Running", "Shutoff", "Paused"). There is no window manager: every window
maps at (0, 0) and the newest covers the others, so before a mouse action on an older
window call :meth:`VirtManagerSession.raise_window` (accessible actions need no raising).
Items of closed menus are not "showing": click them with ``showing=False`` (their action
works without opening the menu). Example (see tests/interop/test_virt_manager.py)::

    with VirtManagerSession(tmp / "vm", ROOT / "run" / "libvirt") as s:
        s.double_click("table cell", name_re=r"^alpha\\n")     # the VM's row: its window
        s.click("push button", "Shut Down", window="alpha on QEMU/KVM")
        s.click("radio menu item", "Serial 1", window="alpha on QEMU/KVM", showing=False)
        if not s.wait_showing("push button", "Run", window="alpha on QEMU/KVM"):
            s.fail("alpha-run", "no Run button")          # screenshot named in the message
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shlex
import struct
import subprocess
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from virtkit.testing.procgroup import stop_group, wait_ready

__all__ = [
    "DEFAULT_SETTINGS",
    "Image",
    "UIError",
    "VirtManagerSession",
    "decode_image",
    "lit_pixels",
    "read_xwd",
    "unix_socket_pairs",
    "virtmanager_available",
    "write_png",
]

XVFB = "/usr/bin/Xvfb"
XWD = "/usr/bin/xwd"
XDOTOOL = "/usr/bin/xdotool"
DBUS_DAEMON = "/usr/bin/dbus-daemon"
AT_SPI_LAUNCHER = "/usr/libexec/at-spi-bus-launcher"
VIRT_MANAGER = "/usr/bin/virt-manager"
SYSTEM_PYTHON = "/usr/bin/python3"
DOGTAIL = "/usr/lib/python3/dist-packages/dogtail/tree.py"
SCREEN = (1600, 1000)

_VM = "org/virt-manager/virt-manager"
DEFAULT_SETTINGS: dict[str, dict[str, str]] = {
    "org/gnome/desktop/interface": {"toolkit-accessibility": "true"},
    f"{_VM}/confirm": {"forcepoweroff": "false", "poweroff": "false", "pause": "false",
                       "removedev": "false", "unapplied-dev": "false",
                       "delete-storage": "false"},
    f"{_VM}/stats": {"update-interval": "1", "enable-cpu-poll": "true",
                     "enable-disk-poll": "true", "enable-net-poll": "true",
                     "enable-memory-poll": "true"},
    f"{_VM}/vmlist-fields": {"cpu-usage": "true", "memory-usage": "true",
                             "disk-usage": "true", "network-traffic": "true"},
    f"{_VM}/console": {"scaling": "0", "resize-guest": "0", "autoconnect": "true"},
    _VM: {"manager-window-width": "900", "manager-window-height": "600",
          "xmleditor-enabled": "true"},
}
"""GSettings written before virt-manager starts (keyfile groups: paths without slashes
at the ends). Scaling 0: the console is shown 1:1, so its pixels match the guest's."""

UI_TIMEOUT = 120.0
"""Hang guard of one :meth:`VirtManagerSession.ui` call (a busy 2-core machine)."""


def virtmanager_available() -> list[str]:
    """The programs this module needs that are missing (empty when all are there)."""
    needed = (XVFB, XWD, XDOTOOL, DBUS_DAEMON, AT_SPI_LAUNCHER, VIRT_MANAGER, SYSTEM_PYTHON,
              DOGTAIL, "/usr/bin/unshare")
    return [p for p in needed if not os.path.exists(p)]


class UIError(AssertionError):
    """A driver snippet failed (its traceback), or hung past its guard."""


# ----------------------------------------------------------------------------- images


@dataclass(frozen=True)
class Image:
    """Packed 8-bit RGB pixels, row by row."""

    width: int
    height: int
    rgb: bytes

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        i = (y * self.width + x) * 3
        return self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]

    def crop(self, x: int, y: int, width: int, height: int) -> Image:
        """The ``width`` x ``height`` part at ``(x, y)`` (clipped to the image)."""
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(self.width, x + width), min(self.height, y + height)
        if x1 <= x0 or y1 <= y0:
            return Image(0, 0, b"")
        rows = [self.rgb[(r * self.width + x0) * 3:(r * self.width + x1) * 3]
                for r in range(y0, y1)]
        return Image(x1 - x0, y1 - y0, b"".join(rows))

    def colours(self) -> int:
        """How many distinct colours the image has (1 for a blank area)."""
        return len({self.rgb[i:i + 3] for i in range(0, len(self.rgb), 3)})


def write_png(image: Image, path: Path) -> Path:
    """Write ``image`` as an 8-bit RGB PNG (no filtering; zlib)."""
    stride = image.width * 3
    raw = b"".join(b"\0" + image.rgb[r * stride:(r + 1) * stride] for r in range(image.height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", image.width, image.height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    return path


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _decode_png(data: bytes) -> Image:
    pos, idat, width, height, ctype = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise ValueError(f"PNG depth {depth} colour type {ctype} not handled")
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    prev, out = bytearray(stride), bytearray()
    for r in range(height):
        start = r * (stride + 1)
        ftype, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = (0, a, b, (a + b) // 2, _paeth(a, b, c))[ftype]
            line[i] = (line[i] + pred) & 0xFF
        out += line if bpp == 3 else b"".join(line[i:i + 3] for i in range(0, stride, 4))
        prev = line
    return Image(width, height, bytes(out))


def _decode_ppm(data: bytes) -> Image:
    fields: list[bytes] = []
    pos = 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos)
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b"P6" or fields[3] != b"255":
        raise ValueError(f"PPM {fields[0]!r} maxval {fields[3]!r} not handled")
    width, height = int(fields[1]), int(fields[2])
    return Image(width, height, data[pos + 1:pos + 1 + width * height * 3])


def decode_image(data: bytes) -> Image:
    """A PNG (8-bit RGB/RGBA) or binary PPM, as ``virDomainScreenshot`` answers."""
    if data.startswith(b"\x89PNG"):
        return _decode_png(data)
    return _decode_ppm(data)


def read_xwd(data: bytes) -> Image:
    """The pixels of an ``xwd`` dump of a TrueColor 24/32-bit screen."""
    head = struct.unpack(">25I", data[:100])
    header_size, width, height = head[0], head[4], head[5]
    byte_order, bpp, bytes_per_line = head[7], head[11], head[12]
    masks, ncolors = head[14:17], head[19]
    if bpp not in (24, 32) or masks != (0xFF0000, 0xFF00, 0xFF):
        raise ValueError(f"xwd: {bpp} bits per pixel, masks {masks} not handled")
    pixels = data[header_size + 12 * ncolors:]
    step = bpp // 8
    red, green, blue = (2, 1, 0) if byte_order == 0 else (step - 3, step - 2, step - 1)
    out = bytearray(width * height * 3)
    for r in range(height):
        row = pixels[r * bytes_per_line:r * bytes_per_line + width * step]
        base = r * width * 3
        out[base:base + width * 3:3] = row[red::step]
        out[base + 1:base + width * 3:3] = row[green::step]
        out[base + 2:base + width * 3:3] = row[blue::step]
    return Image(width, height, bytes(out))


def lit_pixels(image: Image) -> set[int]:
    """Indices of the bright pixels (a text screen's glyphs): what a console view and the
    guest's own screenshot are compared by."""
    rgb = image.rgb
    return {i // 3 for i in range(0, len(rgb), 3) if rgb[i] + rgb[i + 1] + rgb[i + 2] > 240}


def _socket_inodes(pid: int) -> set[int]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                found.add(int(target[8:-1]))
    return found


def unix_socket_pairs(pid_a: int, pid_b: int) -> set[tuple[int, int]]:
    """(inode, peer inode) of the connected unix sockets whose one end process ``pid_a``
    holds and the other ``pid_b`` (``ss -xn``): a descriptor the daemon handed over
    (virDomainOpenGraphicsFD) joins the viewer to QEMU this way."""
    a_side, b_side = _socket_inodes(pid_a), _socket_inodes(pid_b)
    out = subprocess.run(["ss", "-xn"], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    pairs = set()
    for line in out.splitlines()[1:]:
        fields = line.split()
        with contextlib.suppress(ValueError, IndexError):
            local, peer = int(fields[5]), int(fields[7])
            if local in a_side and peer in b_side:
                pairs.add((local, peer))
    return pairs


# ----------------------------------------------------------------------------- processes




_DRIVER = r'''
import ast, json, os, re, sys, time, traceback
proto = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr
from dogtail.config import config
config.checkForA11y = False
config.logDebugToFile = False
config.logDebugToStdOut = False
config.searchBackoffDuration = 0.2
config.searchCutoffCount = 5
config.defaultDelay = 0.2
config.actionDelay = 0.2
config.typingDelay = 0.02
from dogtail import tree, rawinput
import pyatspi

APP_NAME = "virt-manager"
_app = [None]

def app(timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        node = _app[0]
        try:
            if node is not None and node.name:
                return node
        except Exception:
            pass
        for child in tree.root.children:
            try:
                if child.name == APP_NAME:
                    _app[0] = child
                    return child
            except Exception:
                pass
        if time.monotonic() > deadline:
            raise LookupError("virt-manager is not on the accessibility bus")
        time.sleep(0.2)

def _showing(node):
    try:
        return node.showing
    except Exception:
        return False

def _match(node, role, name, name_re, showing):
    try:
        if role is not None and node.roleName != role:
            return False
        if name is not None and node.name != name:
            return False
        if name_re is not None and not re.search(name_re, node.name or ""):
            return False
        return not showing or node.showing
    except Exception:
        return False

def window(name=None, name_re=None, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        for child in app().children:
            if _match(child, None, name, name_re, False):
                return child
        if time.monotonic() > deadline:
            names = [c.name for c in app().children]
            raise LookupError(f"no window name={name!r} name_re={name_re!r}: {names}")
        time.sleep(0.2)

def _parent(parent):
    if parent is None:
        return app()
    if isinstance(parent, str):
        return window(parent)
    return parent

def find_all(role=None, name=None, name_re=None, parent=None, showing=True):
    root = _parent(parent)
    return root.findChildren(lambda n: _match(n, role, name, name_re, showing),
                             recursive=True, showingOnly=False)

def exists(role=None, name=None, name_re=None, parent=None, showing=True):
    return bool(find_all(role, name, name_re, parent, showing))

def find(role=None, name=None, name_re=None, parent=None, showing=True, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = find_all(role, name, name_re, parent, showing)
        except LookupError:
            found = []
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise LookupError(f"nothing showing with role={role!r} name={name!r} "
                              f"name_re={name_re!r}")
        time.sleep(0.2)

def extents(node):
    x, y = node.position
    w, h = node.size
    return [x, y, w, h]

def mouse_click(role=None, name=None, name_re=None, parent=None, node=None, button=1):
    node = node or find(role, name, name_re, parent)
    x, y, w, h = extents(node)
    rawinput.click(x + w // 2, y + h // 2, button)
    return node

def double_click(role=None, name=None, name_re=None, parent=None, node=None):
    node = node or find(role, name, name_re, parent)
    x, y, w, h = extents(node)
    rawinput.doubleClick(x + w // 2, y + h // 2, 1)
    return node

def click(role=None, name=None, name_re=None, parent=None, node=None):
    node = node or find(role, name, name_re, parent)
    actions = node.actions
    for action in ("click", "press", "activate", "toggle", "jump"):
        if action in actions:
            node.doActionNamed(action)
            return node
    return mouse_click(node=node)

def text(node):
    try:
        t = node.text
        if t is not None:
            return t
    except Exception:
        pass
    return node.name or ""

def all_text(parent=None):
    root = _parent(parent)
    out = []
    for n in root.findChildren(lambda n: _showing(n), recursive=True, showingOnly=False):
        try:
            if n.name:
                out.append(n.name)
            t = text(n)
            if t and t != n.name:
                out.append(t)
        except Exception:
            pass
    return "\n".join(out)

def dump(parent=None):
    root = _parent(parent)
    out = []
    def walk(n, depth):
        try:
            t = ""
            try:
                t = n.text or ""
            except Exception:
                pass
            out.append("  " * depth + f"{n.roleName} | {n.name} | {t[:80]!r}"
                       + ("" if n.showing else " (hidden)"))
            for c in n.children:
                walk(c, depth + 1)
        except Exception as e:
            out.append("  " * depth + f"<{e}>")
    walk(root, 0)
    return "\n".join(out)

def _jsonable(value):
    if isinstance(value, tree.Node):
        try:
            return {"role": value.roleName, "name": value.name}
        except Exception:
            return {"role": None, "name": None}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)

def _run(code, args):
    ns = dict(globals())
    ns.update(args)
    body = ast.parse(code, "<ui>", "exec")
    last = None
    if body.body and isinstance(body.body[-1], ast.Expr):
        last = ast.Expression(body.body.pop().value)
    exec(compile(body, "<ui>", "exec"), ns)
    return eval(compile(last, "<ui>", "eval"), ns) if last is not None else None

for line in sys.stdin:
    req = json.loads(line)
    try:
        reply = {"ok": True, "value": _jsonable(_run(req["code"], req.get("args", {})))}
    except BaseException as exc:
        reply = {"ok": False, "error": "".join(traceback.format_exception(exc))}
    proto.write(json.dumps(reply) + "\n")
    proto.flush()
'''


class VirtManagerSession:
    """Xvfb + session bus + AT-SPI + virt-manager on ``libvirt_run`` (a virtkitd's
    ``ROOT/run/libvirt``, seen as /run/libvirt by virt-manager); see the module doc."""

    def __init__(self, workdir: Path, libvirt_run: Path, *,
                 settings: dict[str, dict[str, str]] | None = None,
                 shots: Path | None = None, uri: str = "qemu:///system") -> None:
        self.workdir = workdir
        self.libvirt_run = libvirt_run
        self.shots = shots or workdir / "shots"
        self.uri = uri
        self.settings = {group: dict(keys) for group, keys in DEFAULT_SETTINGS.items()}
        for group, keys in (settings or {}).items():
            self.settings.setdefault(group, {}).update(keys)
        self.display = ""
        self.bus_path = workdir / "session_bus"
        self.home = workdir / "home"
        self._procs: list[subprocess.Popen[bytes]] = []
        self._app: subprocess.Popen[bytes] | None = None
        self._driver: subprocess.Popen[bytes] | None = None
        self._shot_count = 0

    # -------------------------------------------------------------- environment

    @property
    def bus_address(self) -> str:
        return f"unix:path={self.bus_path}"

    @property
    def app_pid(self) -> int:
        """virt-manager's pid (the process itself: the namespace wrapper execs it)."""
        if self._app is None:
            raise RuntimeError("virt-manager is not running")
        return self._app.pid

    def log(self, name: str) -> Path:
        """The log of ``xvfb``, ``dbus``, ``at-spi``, ``virt-manager`` or ``driver``."""
        return self.workdir / f"{name}.log"

    def env(self) -> dict[str, str]:
        """The environment every process of the session gets."""
        env = dict(os.environ)
        for key in ("LIBVIRT_DEFAULT_URI", "NO_AT_BRIDGE", "WAYLAND_DISPLAY", "XAUTHORITY",
                    "SESSION_MANAGER", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
            env.pop(key, None)
        env.update(
            DISPLAY=self.display, DBUS_SESSION_BUS_ADDRESS=self.bus_address,
            HOME=str(self.home), XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            XDG_DATA_HOME=str(self.home / ".local" / "share"),
            XDG_RUNTIME_DIR=str(self.workdir / "xdg-run"),
            GSETTINGS_BACKEND="keyfile", GTK_MODULES="gail:atk-bridge",
            GNOME_ACCESSIBILITY="1", GDK_BACKEND="x11", LANG="C.UTF-8", LC_ALL="C.UTF-8",
            PATH="/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        return env

    def _spawn(self, name: str, argv: list[str], *, private_run: bool = False,
               pass_fds: tuple[int, ...] = ()) -> subprocess.Popen[bytes]:
        if private_run:
            script = "mount --bind \"$1\" /run/libvirt && shift && exec \"$@\""
            argv = ["unshare", "--mount", "--propagation", "private", "--",
                    "sh", "-c", script, "sh", str(self.libvirt_run), *argv]
        with open(self.log(name), "ab") as out:
            out.write(f"$ {shlex.join(argv)}\n".encode())
            out.flush()
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=self.env(), cwd=self.workdir,
                                    start_new_session=True, pass_fds=pass_fds)
        self._procs.append(proc)
        return proc

    def _write_settings(self) -> None:
        keyfile = self.home / ".config" / "glib-2.0" / "settings" / "keyfile"
        keyfile.parent.mkdir(parents=True, exist_ok=True)
        lines: list[str] = []
        for group, keys in self.settings.items():
            lines.append(f"[{group}]")
            lines += [f"{key}={value}" for key, value in keys.items()]
            lines.append("")
        keyfile.write_text("\n".join(lines))

    # -------------------------------------------------------------- start/stop

    def _start_xvfb(self, timeout: float) -> None:
        read_end, write_end = os.pipe()
        try:
            proc = self._spawn("xvfb", [XVFB, "-displayfd", str(write_end), "-screen", "0",
                                        f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp",
                                        "+extension", "XTEST"],
                               pass_fds=(write_end,))
        finally:
            os.close(write_end)
        got = b""
        deadline = time.monotonic() + timeout
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            while not got.endswith(b"\n") and time.monotonic() < deadline:
                ready, _, _ = select.select([pipe], [], [], 0.5)
                if ready:
                    chunk = pipe.read(64)
                    if not chunk:
                        break
                    got += chunk
                elif proc.poll() is not None:
                    break
        if not got.strip().isdigit():
            raise RuntimeError(f"Xvfb gave no display: {self.log('xvfb').read_text()}")
        self.display = f":{got.strip().decode()}"

    def start(self, timeout: float = 60.0) -> None:
        """Start everything and wait until virt-manager's manager window is on the
        accessibility bus."""
        missing = virtmanager_available()
        if missing:
            raise RuntimeError(f"missing {missing}: run `make sysdeps` (scripts/sysdeps.py)")
        for path in (self.workdir, self.shots, self.home, self.workdir / "xdg-run"):
            path.mkdir(parents=True, exist_ok=True)
        (self.workdir / "xdg-run").chmod(0o700)
        os.makedirs("/run/libvirt", exist_ok=True)  # the mount point in the namespace
        self._write_settings()
        self._start_xvfb(timeout)
        bus = self._spawn("dbus", [DBUS_DAEMON, "--session", "--nofork", "--nopidfile",
                                   "--nosyslog", f"--address={self.bus_address}"])
        wait_ready(self.bus_path.exists, "dbus-daemon", timeout, bus, self.log("dbus"),
                   interval=0.1)
        self._spawn("at-spi", [AT_SPI_LAUNCHER, "--launch-immediately"])
        self._app = self._spawn("virt-manager", [
            VIRT_MANAGER, "--no-fork", "--debug", "--connect", self.uri], private_run=True)
        self._start_driver()
        self.ui("window(name_re='Virtual Machine Manager', timeout=timeout)",
                timeout=timeout + 30, args={"timeout": timeout})

    def _start_driver(self) -> None:
        script = self.workdir / "uidriver.py"
        script.write_text(_DRIVER)
        with open(self.log("driver"), "ab") as err:
            self._driver = subprocess.Popen(
                [SYSTEM_PYTHON, "-u", str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=err, env=self.env(), cwd=self.workdir, start_new_session=True)

    def _stop_driver(self) -> None:
        if self._driver is not None:
            with contextlib.suppress(OSError):
                if self._driver.stdin is not None:
                    self._driver.stdin.close()
            stop_group(self._driver, 5.0)
            if self._driver.stdout is not None:
                self._driver.stdout.close()
            self._driver = None

    def stop(self) -> None:
        """Stop the driver, virt-manager, the buses and Xvfb (each process group by pid)."""
        self._stop_driver()
        for proc in reversed(self._procs):
            stop_group(proc)
        self._procs.clear()
        self._app = None

    def __enter__(self) -> VirtManagerSession:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -------------------------------------------------------------- driving the UI

    def ui(self, code: str, *, timeout: float = UI_TIMEOUT, args: dict[str, Any] | None = None,
           ) -> Any:
        """Run ``code`` in the dogtail driver (``args`` bound as variables); the value of
        its last expression. A failure raises :class:`UIError` with the traceback; a hang
        past ``timeout`` restarts the driver and raises."""
        if self._driver is None or self._driver.poll() is not None:
            self._stop_driver()
            self._start_driver()
        driver = self._driver
        assert driver is not None and driver.stdin is not None and driver.stdout is not None
        driver.stdin.write((json.dumps({"code": code, "args": args or {}}) + "\n").encode())
        driver.stdin.flush()
        ready, _, _ = select.select([driver.stdout], [], [], timeout)
        line = driver.stdout.readline() if ready else b""
        if not line:
            self._stop_driver()
            tail = self.log("driver").read_text(errors="replace")[-2000:]
            raise UIError(f"UI driver hung or died running {code!r} (guard {timeout} s)\n{tail}")
        reply = json.loads(line)
        if not reply["ok"]:
            raise UIError(f"{code!r} failed in the UI driver:\n{reply['error']}")
        return reply["value"]

    def click(self, role: str | None = None, name: str | None = None, *,
              name_re: str | None = None, window: str | None = None,
              timeout: float = 30.0, showing: bool = True) -> None:
        """Find a node (in ``window``, a window's name, or the whole app; showing unless
        ``showing=False``, as items of closed menus are) and click it through its
        accessible action (or the mouse)."""
        self.ui("click(node=find(role, name, name_re, window, showing, timeout=timeout))",
                args={"role": role, "name": name, "name_re": name_re, "window": window,
                      "timeout": timeout, "showing": showing})

    def double_click(self, role: str | None = None, name: str | None = None, *,
                     name_re: str | None = None, window: str | None = None,
                     timeout: float = 30.0) -> None:
        """Double-click a showing node with the mouse (a VM's row opens its window)."""
        self.ui("double_click(node=find(role, name, name_re, window, timeout=timeout))",
                args={"role": role, "name": name, "name_re": name_re, "window": window,
                      "timeout": timeout})

    def exists(self, role: str | None = None, name: str | None = None, *,
               name_re: str | None = None, window: str | None = None,
               showing: bool = True) -> bool:
        return bool(self.ui("exists(role, name, name_re, window, showing)",
                            args={"role": role, "name": name, "name_re": name_re,
                                  "window": window, "showing": showing}))

    def wait_showing(self, role: str | None = None, name: str | None = None, *,
                     name_re: str | None = None, window: str | None = None,
                     timeout: float = 60.0) -> bool:
        """Whether such a node shows up within ``timeout`` (a hang guard)."""
        return bool(self.ui(
            "try:\n    found = bool(find(role, name, name_re, window, timeout=timeout))\n"
            "except LookupError:\n    found = False\nfound",
            timeout=timeout + 60,
            args={"role": role, "name": name, "name_re": name_re, "window": window,
                  "timeout": timeout}))

    def all_text(self, window: str | None = None) -> str:
        return str(self.ui("all_text(window)", args={"window": window}))

    def find_text(self, regex: str, *, window: str | None = None,
                  timeout: float = 60.0) -> str | None:
        """The first match of ``regex`` in the showing texts, polled (a hang guard)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.ui("m = re.search(regex, all_text(window), re.M)\n"
                            "m.group(0) if m else None",
                            args={"regex": regex, "window": window})
            if found is not None or time.monotonic() > deadline:
                return None if found is None else str(found)
            time.sleep(0.5)

    def dump_tree(self, window: str | None = None) -> str:
        return str(self.ui("dump(window)", args={"window": window}))

    def extents(self, role: str | None = None, name: str | None = None, *,
                name_re: str | None = None, window: str | None = None,
                ) -> tuple[int, int, int, int]:
        """``(x, y, width, height)`` of a showing node on the screen."""
        x, y, w, h = self.ui("extents(find(role, name, name_re, window))",
                             args={"role": role, "name": name, "name_re": name_re,
                                   "window": window})
        return int(x), int(y), int(w), int(h)

    def xdotool(self, *argv: str) -> str:
        done = subprocess.run([XDOTOOL, *argv], env=self.env(), capture_output=True, text=True,
                              timeout=60, check=True)
        return done.stdout

    def raise_window(self, title: str) -> None:
        """Bring the window titled exactly ``title`` to the top (there is no window
        manager: every window maps at (0, 0) and the newest covers the others)."""
        self.xdotool("search", "--name", f"^{re.escape(title)}$", "windowraise")

    def type_text(self, text: str) -> None:
        """Type into the focused widget (xdotool, as a keyboard would)."""
        self.xdotool("type", "--delay", "30", text)

    def key(self, *keys: str) -> None:
        """Press key combinations (xdotool names: ``Return``, ``ctrl+w``)."""
        self.xdotool("key", "--delay", "50", *keys)

    # -------------------------------------------------------------- screen

    def screen(self) -> Image:
        """The whole screen's pixels (``xwd -root``)."""
        done = subprocess.run([XWD, "-root", "-silent", "-display", self.display],
                              env=self.env(), capture_output=True, timeout=60, check=True)
        return read_xwd(done.stdout)

    def screenshot(self, name: str | Path) -> Path:
        """Save the screen as a PNG: ``name`` is a path, or a file name in ``shots``."""
        path = Path(name)
        if not path.is_absolute():
            self._shot_count += 1
            path = self.shots / f"{self._shot_count:02d}-{path.name}"
        if path.suffix != ".png":
            path = path.with_name(path.name + ".png")
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_png(self.screen(), path)

    def fail(self, name: str, message: str) -> None:
        """Raise ``AssertionError`` with ``message``, a fresh screenshot and the logs."""
        try:
            png: Path | str = self.screenshot(f"{name}-failure")
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            png = f"<no screenshot: {exc}>"
        raise AssertionError(f"{message}\nscreenshot: {png}\nvirt-manager log: "
                             f"{self.log('virt-manager')}")
