"""Sound devices -> ``-device`` (libvirt 9.0's qemuBuildSoundCommandLine).

PCI models (ich6, ich9, ac97, es1370) get PCI addresses from the builder; sb16 is an ISA
device and usb-audio a USB one. HDA controllers (ich6, ich9) carry codecs (``hda-duplex``
when none is written), each on the controller's bus with ``cad`` its position; the
audio backend (``-audiodev``, id ``audioN``) goes to the codecs, or to the device itself
for the models without codecs. ``pcspk`` (``-soundhw``, gone from QEMU 7.2) and ``ich7``
(no QEMU device) are refused.
"""

from __future__ import annotations

from typing import Any

from virtkit.conf.dev_graphics import Sound
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["PCI_MODELS", "SOUND_DEVICES", "USB_MODELS", "codec_alias", "sound_device_args"]

# <sound model> -> QEMU device (qemuBuildSoundDevCmd)
SOUND_DEVICES = {"es1370": "ES1370", "ac97": "AC97", "ich6": "intel-hda",
                 "ich9": "ich9-intel-hda", "sb16": "sb16", "usb": "usb-audio"}
PCI_MODELS = frozenset({"es1370", "ac97", "ich6", "ich9"})
USB_MODELS = frozenset({"usb"})
_WITH_CODECS = frozenset({"ich6", "ich9"})  # virDomainSoundModelSupportsCodecs (ich7 too)
_CODECS = {"duplex": "hda-duplex", "micro": "hda-micro", "output": "hda-output"}


def _unsupported(detail: str) -> VirtError:
    return make_error(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.QEMU, detail)


def codec_alias(alias: str, cad: int) -> str:
    """The qdev id of codec ``cad`` of the HDA controller ``alias``."""
    return f"{alias}-codec{cad}"


def sound_device_args(sound: Sound, alias: str, audiodev: str,
                      address: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``-device`` objects of one sound device (the controller, then its codecs);
    ``address`` holds its bus properties (PCI bus/addr, USB bus/port or nothing)."""
    model = sound.model or ""
    driver = SOUND_DEVICES.get(model)
    if driver is None:
        raise _unsupported(f"sound card model '{model}' is not supported by qemu")
    props: dict[str, Any] = {"driver": driver, "id": alias}
    if model not in _WITH_CODECS:
        props["audiodev"] = audiodev
    props.update(address)
    out = [props]
    if model in _WITH_CODECS:
        codecs = [c.type or "" for c in sound.codecs] or ["duplex"]
        for cad, codec in enumerate(codecs):
            codec_driver = _CODECS.get(codec)
            if codec_driver is None:
                raise _unsupported(f"sound codec '{codec}' is not supported")
            out.append({"driver": codec_driver, "id": codec_alias(alias, cad),
                        "bus": f"{alias}.0", "cad": cad, "audiodev": audiodev})
    elif sound.codecs:
        raise _unsupported(f"sound model '{model}' has no codecs")
    return out
