"""The start every libvirt-python runner here shares (run by /usr/bin/python3, next to the
runner script): libvirt's error printing silenced, its default event loop on a thread."""

import threading

import libvirt


def _loop():
    while True:
        libvirt.virEventRunDefaultImpl()


def start():
    libvirt.registerErrorHandler(lambda *a: None, None)
    libvirt.virEventRegisterDefaultImpl()
    threading.Thread(target=_loop, daemon=True).start()
