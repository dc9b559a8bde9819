"""Domain CPU and NUMA placement and tuning.

<vcpu>, <vcpus>, <iothreadids>, <defaultiothread>, <cputune>, <numatune>,
<resource>, in the order libvirt's formatter writes their contents.
"""

from __future__ import annotations

from virtkit.conf.model import XmlModel, attr, child, children, model, text, text_child


@model("vcpu")
class Vcpu(XmlModel):
    """``<vcpu placement='static' cpuset='1-3' current='2'>4</vcpu>``."""

    placement: str | None = attr()
    cpuset: str | None = attr()
    current: str | None = attr()
    count: str | None = text()


@model("vcpu")
class VcpuEntry(XmlModel):
    """One ``<vcpus><vcpu id= enabled= .../>`` entry."""

    id: str | None = attr()
    enabled: str | None = attr()
    hotpluggable: str | None = attr()
    order: str | None = attr()


@model("vcpus")
class Vcpus(XmlModel):
    vcpus: list[VcpuEntry] = children("vcpu", VcpuEntry)


@model("iothread")
class IOThread(XmlModel):
    id: str | None = attr()
    thread_pool_min: str | None = attr()
    thread_pool_max: str | None = attr()


@model("iothreadids")
class IOThreadIds(XmlModel):
    iothreads: list[IOThread] = children("iothread", IOThread)


@model("defaultiothread")
class DefaultIOThread(XmlModel):
    thread_pool_min: str | None = attr()
    thread_pool_max: str | None = attr()


@model("vcpupin")
class VcpuPin(XmlModel):
    vcpu: str | None = attr()
    cpuset: str | None = attr()


@model("emulatorpin")
class EmulatorPin(XmlModel):
    cpuset: str | None = attr()


@model("iothreadpin")
class IOThreadPin(XmlModel):
    iothread: str | None = attr()
    cpuset: str | None = attr()


@model("emulatorsched")
class EmulatorSched(XmlModel):
    scheduler: str | None = attr()
    priority: str | None = attr()


@model("vcpusched")
class VcpuSched(XmlModel):
    vcpus: str | None = attr()
    scheduler: str | None = attr()
    priority: str | None = attr()


@model("iothreadsched")
class IOThreadSched(XmlModel):
    iothreads: str | None = attr()
    scheduler: str | None = attr()
    priority: str | None = attr()


@model("cache")
class CacheTuneCache(XmlModel):
    id: str | None = attr()
    level: str | None = attr()
    type: str | None = attr()
    size: str | None = attr()
    unit: str | None = attr()


@model("monitor")
class ResctrlMonitor(XmlModel):
    level: str | None = attr()
    vcpus: str | None = attr()


@model("cachetune")
class CacheTune(XmlModel):
    vcpus: str | None = attr()
    id: str | None = attr()
    caches: list[CacheTuneCache] = children("cache", CacheTuneCache)
    monitors: list[ResctrlMonitor] = children("monitor", ResctrlMonitor)


@model("node")
class MemoryTuneNode(XmlModel):
    id: str | None = attr()
    bandwidth: str | None = attr()


@model("memorytune")
class MemoryTune(XmlModel):
    vcpus: str | None = attr()
    id: str | None = attr()
    nodes: list[MemoryTuneNode] = children("node", MemoryTuneNode)
    monitors: list[ResctrlMonitor] = children("monitor", ResctrlMonitor)


@model("cputune")
class CpuTune(XmlModel):
    """``<cputune>``: CFS shares/quotas, pinning, scheduling, cache and memory bandwidth."""

    shares: str | None = text_child("shares")
    period: str | None = text_child("period")
    quota: str | None = text_child("quota")
    global_period: str | None = text_child("global_period")
    global_quota: str | None = text_child("global_quota")
    emulator_period: str | None = text_child("emulator_period")
    emulator_quota: str | None = text_child("emulator_quota")
    iothread_period: str | None = text_child("iothread_period")
    iothread_quota: str | None = text_child("iothread_quota")
    vcpupins: list[VcpuPin] = children("vcpupin", VcpuPin)
    emulatorpin: EmulatorPin | None = child("emulatorpin", EmulatorPin)
    iothreadpins: list[IOThreadPin] = children("iothreadpin", IOThreadPin)
    emulatorsched: EmulatorSched | None = child("emulatorsched", EmulatorSched)
    vcpuscheds: list[VcpuSched] = children("vcpusched", VcpuSched)
    iothreadscheds: list[IOThreadSched] = children("iothreadsched", IOThreadSched)
    cachetunes: list[CacheTune] = children("cachetune", CacheTune)
    memorytunes: list[MemoryTune] = children("memorytune", MemoryTune)


@model("memory")
class NumatuneMemory(XmlModel):
    mode: str | None = attr()
    nodeset: str | None = attr()
    placement: str | None = attr()


@model("memnode")
class NumatuneMemnode(XmlModel):
    cellid: str | None = attr()
    mode: str | None = attr()
    nodeset: str | None = attr()


@model("numatune")
class NumaTune(XmlModel):
    memory: NumatuneMemory | None = child("memory", NumatuneMemory)
    memnodes: list[NumatuneMemnode] = children("memnode", NumatuneMemnode)


@model("fibrechannel")
class FibreChannel(XmlModel):
    appid: str | None = attr()


@model("resource")
class Resource(XmlModel):
    partition: str | None = text_child("partition")
    fibrechannel: FibreChannel | None = child("fibrechannel", FibreChannel)
