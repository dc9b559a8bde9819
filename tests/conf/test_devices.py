"""Tests for the <devices> models (virtkit.conf.devices and dev_* modules)."""

# The samples are libvirt-formatted XML, whose lines are as long as libvirt makes them.
# ruff: noqa: E501

from __future__ import annotations

import collections
import random
import textwrap
from pathlib import Path

import pytest

from virtkit.conf.devices import (
    DEVICE_CLASSES,
    Address,
    Channel,
    Console,
    Controller,
    Devices,
    Disk,
    DiskSource,
    DiskTarget,
    Graphics,
    Interface,
    MemBalloon,
    device_from_xml,
)
from virtkit.conf.xmlutil import parse_xml
from virtkit.errors import XMLError
from virtkit.testing.repo import conformance_dir


def x(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def roundtrip(text: str) -> None:
    _, dev = device_from_xml(text)
    assert dev.to_xml() == text
    assert dev.unknown_paths() == [], "every element and attribute should be modelled"


# ----------------------------------------------------------------------------- one sample per kind

SAMPLES = {
    "disk-file": """
        <disk type='file' device='disk' snapshot='external'>
          <driver name='qemu' type='qcow2' cache='none' error_policy='stop' io='native' discard='unmap' iothread='1' queues='4'>
            <metadata_cache>
              <max_size unit='bytes'>1024</max_size>
            </metadata_cache>
          </driver>
          <source file='/var/lib/images/a.qcow2' index='2'>
            <seclabel model='selinux' relabel='no'/>
            <encryption format='luks'>
              <secret type='passphrase' uuid='0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f'/>
            </encryption>
          </source>
          <backingStore type='file' index='1'>
            <format type='raw'/>
            <source file='/var/lib/images/base.img'/>
            <backingStore/>
          </backingStore>
          <geometry cyls='16383' heads='16' secs='63' trans='lba'/>
          <blockio logical_block_size='512' physical_block_size='4096'/>
          <target dev='vda' bus='virtio' rotation_rate='7200'/>
          <iotune>
            <total_bytes_sec>5000</total_bytes_sec>
            <read_iops_sec_max>7000</read_iops_sec_max>
            <group_name>g1</group_name>
            <write_iops_sec_max_length>3</write_iops_sec_max_length>
          </iotune>
          <shareable/>
          <transient shareBacking='yes'/>
          <serial>WD-WMAP9A966149</serial>
          <wwn>5000c50015ea71ad</wwn>
          <vendor>SEAGATE</vendor>
          <product>ST3146707LC</product>
          <boot order='1'/>
          <alias name='virtio-disk0'/>
          <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0' multifunction='on'/>
        </disk>
        """,
    "disk-network": """
        <disk type='network' device='disk'>
          <driver name='qemu' type='raw'/>
          <auth username='myname'>
            <secret type='ceph' usage='mypassid'/>
          </auth>
          <source protocol='rbd' name='pool/image' query='a=b' tls='yes' tlsHostname='h.example'>
            <host name='mon1.example.org' port='6321'/>
            <host name='mon2.example.org' port='6322' transport='tcp'/>
            <snapshot name='snap'/>
            <config file='/etc/ceph/ceph.conf'/>
            <initiator>
              <iqn name='iqn.2013-07.com.example:client'/>
            </initiator>
            <ssl verify='no'/>
            <cookies>
              <cookie name='test'>1234</cookie>
            </cookies>
            <readahead size='65536'/>
            <timeout seconds='10'/>
            <reservations managed='no'>
              <source type='unix' path='/path/to/qemu-pr-helper.sock' mode='client'/>
            </reservations>
          </source>
          <target dev='vdb' bus='virtio'/>
          <readonly/>
        </disk>
        """,
    "disk-block-lun": """
        <disk type='block' device='lun' rawio='yes' sgio='unfiltered'>
          <driver name='qemu' type='raw'/>
          <source dev='/dev/sdfake' startupPolicy='optional'/>
          <target dev='sda' bus='scsi'/>
          <address type='drive' controller='0' bus='0' target='1' unit='0'/>
        </disk>
        """,
    "disk-volume-cdrom": """
        <disk type='volume' device='cdrom'>
          <source pool='pool' volume='vol' mode='host'/>
          <target dev='hdc' bus='ide' tray='open'/>
          <readonly/>
        </disk>
        """,
    "disk-dir": """
        <disk type='dir' device='floppy'>
          <source dir='/tmp/dir'/>
          <target dev='fda' bus='fdc'/>
        </disk>
        """,
    "disk-nvme": """
        <disk type='nvme' device='disk'>
          <driver name='qemu' type='raw'/>
          <source type='pci' managed='yes' namespace='1'>
            <address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
            <slices>
              <slice type='storage' offset='512' size='1024'/>
            </slices>
          </source>
          <target dev='vdc' bus='virtio'/>
        </disk>
        """,
    "disk-vhostuser": """
        <disk type='vhostuser' device='disk'>
          <driver name='qemu' type='raw'/>
          <source type='unix' path='/tmp/vhost-blk.sock'>
            <reconnect enabled='yes' timeout='10'/>
          </source>
          <target dev='vdd' bus='virtio'/>
        </disk>
        """,
    "disk-mirror": """
        <disk type='file' device='disk'>
          <source file='/a.img'/>
          <mirror type='file' file='/b.img' format='qcow2' job='copy' ready='yes'>
            <format type='qcow2'/>
            <source file='/b.img'/>
          </mirror>
          <target dev='vde' bus='sata' removable='on'/>
        </disk>
        """,
    "controller-pci": """
        <controller type='pci' index='1' model='pcie-root-port'>
          <model name='pcie-root-port'/>
          <target chassis='1' port='0x10' hotplug='off'>
            <node>0</node>
          </target>
          <alias name='pci.1'/>
          <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0' multifunction='on'/>
        </controller>
        """,
    "controller-root-hole": """
        <controller type='pci' index='0' model='pci-root'>
          <pcihole64 unit='KiB'>1048576</pcihole64>
        </controller>
        """,
    "controller-usb-companion": """
        <controller type='usb' index='0' model='ich9-uhci1' ports='8'>
          <master startport='0'/>
          <address type='pci' domain='0x0000' bus='0x00' slot='0x1d' function='0x0' multifunction='on'/>
        </controller>
        """,
    "controller-scsi-driver": """
        <controller type='scsi' index='0' model='virtio-scsi'>
          <driver queues='4' cmd_per_lun='8' max_sectors='512' ioeventfd='on' iothread='2' iommu='on'/>
        </controller>
        """,
    "controller-virtio-serial": """
        <controller type='virtio-serial' index='0' ports='16' vectors='4'/>
        """,
    "lease": """
        <lease>
          <lockspace>somearea</lockspace>
          <key>thequickbrownfoxjumpedoverthelazydog</key>
          <target path='/some/lease/path' offset='1024'/>
        </lease>
        """,
    "filesystem-virtiofs": """
        <filesystem type='mount' accessmode='passthrough'>
          <driver type='virtiofs' queue='1024'/>
          <binary path='/usr/libexec/virtiofsd' xattr='on'>
            <cache mode='always'/>
            <sandbox mode='chroot'/>
            <lock posix='off' flock='off'/>
            <thread_pool size='16'/>
          </binary>
          <source dir='/path'/>
          <target dir='mount_tag'/>
          <readonly/>
          <alias name='fs0'/>
          <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
        </filesystem>
        """,
    "filesystem-ram": """
        <filesystem type='ram' accessmode='passthrough'>
          <source usage='1024' units='KiB'/>
          <target dir='/mnt'/>
          <space_hard_limit unit='bytes'>1000</space_hard_limit>
          <space_soft_limit unit='bytes'>500</space_soft_limit>
        </filesystem>
        """,
    "interface-network": """
        <interface type='network' trustGuestRxFilters='yes'>
          <mac address='52:54:00:8b:ae:7d' type='static' check='no'/>
          <source network='default' portgroup='engineering' portid='4e2f1ac4-1f09-4c6f-8c8b-1a1b1c1d1e1f'/>
          <vlan trunk='yes'>
            <tag id='42' nativeMode='untagged'/>
            <tag id='47'/>
          </vlan>
          <virtualport type='openvswitch'>
            <parameters interfaceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f' profileid='menial'/>
          </virtualport>
          <bandwidth>
            <inbound average='1000' peak='5000' floor='200' burst='1024'/>
            <outbound average='128' peak='256' burst='256'/>
          </bandwidth>
          <port isolated='yes'/>
          <ip address='192.168.122.5' family='ipv4' prefix='24'/>
          <route family='ipv4' address='192.168.222.0' prefix='24' gateway='192.168.122.1'/>
          <target dev='vnet0'/>
          <model type='virtio'/>
          <driver name='vhost' txmode='iothread' ioeventfd='on' event_idx='off' queues='5' rx_queue_size='256' tx_queue_size='256' rss='on' iommu='on'>
            <host csum='off' gso='off' tso4='off' tso6='off' ecn='off' ufo='off' mrg_rxbuf='off'/>
            <guest csum='off' tso4='off' tso6='off' ecn='off' ufo='off'/>
          </driver>
          <backend tap='/dev/net/tun' vhost='/dev/vhost-net'/>
          <filterref filter='clean-traffic'>
            <parameter name='IP' value='10.0.0.1'/>
            <parameter name='IP' value='10.0.0.2'/>
          </filterref>
          <tune>
            <sndbuf>1600</sndbuf>
          </tune>
          <link state='down'/>
          <mtu size='9000'/>
          <coalesce>
            <rx>
              <frames max='7'/>
            </rx>
          </coalesce>
          <boot order='2'/>
          <alias name='net0'/>
          <rom bar='off' file='/usr/share/pxe.rom'/>
          <acpi index='3'/>
          <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
        </interface>
        """,
    "interface-bridge": """
        <interface type='bridge'>
          <mac address='52:54:00:00:00:01'/>
          <source bridge='br0'/>
          <script path='/etc/qemu-ifup'/>
          <downscript path='/etc/qemu-ifdown'/>
          <target dev='tap0' managed='no'/>
          <guest dev='eth0' actual='eth1'/>
          <model type='e1000'/>
        </interface>
        """,
    "interface-direct": """
        <interface type='direct'>
          <mac address='52:54:00:00:00:02'/>
          <source dev='eth0' mode='vepa'/>
          <virtualport type='802.1Qbg'>
            <parameters managerid='11' typeid='1193047' typeidversion='2' instanceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/>
          </virtualport>
          <model type='virtio'/>
        </interface>
        """,
    "interface-vhostuser": """
        <interface type='vhostuser'>
          <mac address='52:54:00:00:00:03'/>
          <source type='unix' path='/tmp/vhost.sock' mode='server'>
            <reconnect enabled='yes' timeout='10'/>
          </source>
          <model type='virtio'/>
        </interface>
        """,
    "interface-udp": """
        <interface type='udp'>
          <mac address='52:54:00:00:00:04'/>
          <source address='192.168.0.1' port='5555'>
            <local address='127.0.0.1' port='5556'/>
          </source>
          <model type='rtl8139'/>
        </interface>
        """,
    "interface-user-passt": """
        <interface type='user'>
          <mac address='52:54:00:00:00:05'/>
          <source dev='eth0'/>
          <ip address='172.17.2.0' family='ipv4' prefix='24'/>
          <portForward proto='tcp' address='2001:db8:ac10:fd01::1:10' dev='eth0'>
            <range start='22' to='2022'/>
            <range start='1000' end='1050' exclude='yes'/>
          </portForward>
          <model type='virtio'/>
          <backend type='passt' logFile='/var/log/passt.log'/>
        </interface>
        """,
    "interface-hostdev": """
        <interface type='hostdev' managed='yes'>
          <mac address='52:54:00:00:00:06'/>
          <driver name='vfio'/>
          <source>
            <address type='pci' domain='0x0000' bus='0x06' slot='0x12' function='0x1'/>
          </source>
          <teaming type='transient' persistent='ua-backup0'/>
          <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
        </interface>
        """,
    "interface-vdpa": """
        <interface type='vdpa'>
          <mac address='52:54:00:00:00:07'/>
          <source dev='/dev/vhost-vdpa-0'/>
          <model type='virtio'/>
        </interface>
        """,
    "smartcard-passthrough": """
        <smartcard mode='passthrough' type='tcp'>
          <source mode='connect' host='127.0.0.1' service='2001'/>
          <protocol type='raw'/>
          <address type='ccid' controller='0' slot='0'/>
        </smartcard>
        """,
    "smartcard-host-certificates": """
        <smartcard mode='host-certificates'>
          <certificate>cert1</certificate>
          <certificate>cert2</certificate>
          <certificate>cert3</certificate>
          <database>/etc/pki/nssdb/</database>
        </smartcard>
        """,
    "serial-tcp": """
        <serial type='tcp'>
          <source mode='bind' host='127.0.0.1' service='9999' tls='yes'>
            <reconnect enabled='no'/>
          </source>
          <protocol type='telnet'/>
          <log file='/tmp/serial.log' append='on'/>
          <target type='isa-serial' port='0'>
            <model name='isa-serial'/>
          </target>
          <alias name='serial0'/>
        </serial>
        """,
    "serial-udp": """
        <serial type='udp'>
          <source mode='bind' host='0.0.0.0' service='9998'/>
          <source mode='connect' host='127.0.0.1' service='9999'/>
          <target port='0'/>
        </serial>
        """,
    "parallel-file": """
        <parallel type='file'>
          <source path='/tmp/parallel.log' append='off'/>
          <target port='0'/>
          <address type='isa' iobase='0x378' irq='0x7'/>
        </parallel>
        """,
    "console-pty": """
        <console type='pty' tty='/dev/pts/3'>
          <source path='/dev/pts/3'/>
          <target type='virtio' port='1'/>
        </console>
        """,
    "channel-unix": """
        <channel type='unix'>
          <source mode='bind' path='/var/lib/libvirt/qemu/guest.agent'>
            <seclabel model='dac' relabel='no'/>
          </source>
          <target type='virtio' name='org.qemu.guest_agent.0' state='connected'/>
          <alias name='channel0'/>
          <address type='virtio-serial' controller='0' bus='0' port='1'/>
        </channel>
        """,
    "channel-guestfwd": """
        <channel type='pipe'>
          <source path='/tmp/guestfwd'/>
          <target type='guestfwd' address='10.0.2.1' port='4600'/>
        </channel>
        """,
    "channel-vdagent": """
        <channel type='qemu-vdagent'>
          <source>
            <clipboard copypaste='yes'/>
            <mouse mode='client'/>
          </source>
          <target type='virtio' name='com.redhat.spice.0'/>
        </channel>
        """,
    "input-evdev": """
        <input type='evdev'>
          <source dev='/dev/input/event1' grab='all' grabToggle='ctrl-ctrl' repeat='on'/>
        </input>
        """,
    "input-virtio": """
        <input type='tablet' bus='virtio' model='virtio-non-transitional'>
          <driver iommu='on' ats='on' packed='on'/>
          <alias name='input0'/>
          <address type='pci' domain='0x0000' bus='0x00' slot='0x0a' function='0x0'/>
        </input>
        """,
    "input-usb": """
        <input type='mouse' bus='usb'>
          <address type='usb' bus='0' port='1.2'/>
        </input>
        """,
    "tpm-emulator": """
        <tpm model='tpm-crb'>
          <backend type='emulator' version='2.0' persistent_state='yes'>
            <encryption secret='6dd3e4a5-1d76-44ce-961f-f119f5aad935'/>
            <active_pcr_banks>
              <sha256/>
              <sha512/>
            </active_pcr_banks>
          </backend>
          <alias name='tpm0'/>
        </tpm>
        """,
    "tpm-passthrough": """
        <tpm model='tpm-tis'>
          <backend type='passthrough'>
            <device path='/dev/tpm0'/>
          </backend>
        </tpm>
        """,
    "graphics-vnc": """
        <graphics type='vnc' socket='/tmp/vnc.sock' keymap='en-us' sharePolicy='allow-exclusive' powerControl='yes' passwd='secret' passwdValidTo='2011-05-31T16:11:22' connected='keep'>
          <listen type='socket' socket='/tmp/vnc.sock'/>
          <audio id='1'/>
        </graphics>
        """,
    "graphics-vnc-port": """
        <graphics type='vnc' port='5903' autoport='no' websocket='5700' listen='127.0.0.1'>
          <listen type='address' address='127.0.0.1'/>
        </graphics>
        """,
    "graphics-spice": """
        <graphics type='spice' port='5903' tlsPort='5904' autoport='no' listen='127.0.0.1' defaultMode='secure'>
          <listen type='network' address='127.0.0.1' network='default'/>
          <channel name='main' mode='secure'/>
          <channel name='inputs' mode='insecure'/>
          <image compression='auto_glz'/>
          <jpeg compression='auto'/>
          <zlib compression='auto'/>
          <playback compression='on'/>
          <streaming mode='filter'/>
          <mouse mode='client'/>
          <clipboard copypaste='no'/>
          <filetransfer enable='no'/>
          <gl enable='yes' rendernode='/dev/dri/foo'/>
        </graphics>
        """,
    "graphics-sdl": """
        <graphics type='sdl' display=':0.1' xauth='/root/.Xauthority' fullscreen='yes'>
          <gl enable='yes'/>
        </graphics>
        """,
    "graphics-rdp": """
        <graphics type='rdp' port='3389' autoport='yes' replaceUser='yes' multiUser='yes' listen='0.0.0.0'>
          <listen type='address' address='0.0.0.0'/>
        </graphics>
        """,
    "graphics-egl": """
        <graphics type='egl-headless'>
          <gl rendernode='/dev/dri/foo'/>
        </graphics>
        """,
    "graphics-dbus": """
        <graphics type='dbus' p2p='yes'>
          <gl enable='yes' rendernode='/dev/dri/foo'/>
          <audio id='1'/>
        </graphics>
        """,
    "sound": """
        <sound model='ich9'>
          <codec type='duplex'/>
          <codec type='micro'/>
          <audio id='1'/>
          <address type='pci' domain='0x0000' bus='0x00' slot='0x1b' function='0x0'/>
        </sound>
        """,
    "audio-pulse": """
        <audio id='1' type='pulseaudio' timerPeriod='50' serverName='acme.example.org'>
          <input mixingEngine='yes' fixedSettings='yes' voices='1' bufferLength='100' name='fish' streamName='food' latency='100'>
            <settings frequency='44100' channels='2' format='s16'/>
          </input>
          <output mixingEngine='yes' fixedSettings='no' voices='2' bufferLength='200' name='fish' streamName='food' latency='200'/>
        </audio>
        """,
    "audio-oss": """
        <audio id='2' type='oss' tryMMap='yes' exclusive='yes' dspPolicy='3'>
          <input dev='/dev/dsp0' bufferCount='50' tryPoll='yes'/>
        </audio>
        """,
    "video": """
        <video>
          <driver iommu='on' vgaconf='io' name='vhostuser'/>
          <model type='virtio' vram='16384' heads='1' primary='yes'>
            <acceleration accel3d='yes' rendernode='/dev/dri/test'/>
            <resolution x='800' y='600'/>
          </model>
          <alias name='video0'/>
          <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
        </video>
        """,
    "hostdev-pci": """
        <hostdev mode='subsystem' type='pci' managed='yes'>
          <driver name='vfio'/>
          <source writeFiltering='no'>
            <address domain='0x0000' bus='0x06' slot='0x12' function='0x5'/>
          </source>
          <boot order='3'/>
          <rom bar='on' file='/etc/fake/boot.bin'/>
          <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>
        </hostdev>
        """,
    "hostdev-usb": """
        <hostdev mode='subsystem' type='usb' managed='no'>
          <source startupPolicy='optional' guestReset='off'>
            <vendor id='0x1234'/>
            <product id='0xbeef'/>
            <address bus='14' device='6'/>
          </source>
          <address type='usb' bus='0' port='2'/>
        </hostdev>
        """,
    "hostdev-scsi": """
        <hostdev mode='subsystem' type='scsi' managed='no' sgio='unfiltered' rawio='yes'>
          <source>
            <adapter name='scsi_host0'/>
            <address bus='0' target='0' unit='0'/>
          </source>
          <readonly/>
          <shareable/>
          <address type='drive' controller='0' bus='0' target='0' unit='4'/>
        </hostdev>
        """,
    "hostdev-iscsi": """
        <hostdev mode='subsystem' type='scsi' managed='no'>
          <source protocol='iscsi' name='iqn.1992-01.com.example:storage/1'>
            <host name='example.org' port='3260'/>
            <auth username='myname'>
              <secret type='iscsi' usage='mycluster_myname'/>
            </auth>
            <initiator>
              <iqn name='iqn.2020-07.com.example:test'/>
            </initiator>
          </source>
        </hostdev>
        """,
    "hostdev-scsi-host": """
        <hostdev mode='subsystem' type='scsi_host' managed='no' model='virtio-transitional'>
          <source protocol='vhost' wwpn='naa.500140568720f76f'/>
        </hostdev>
        """,
    "hostdev-mdev": """
        <hostdev mode='subsystem' type='mdev' managed='no' model='vfio-pci' display='on' ramfb='on'>
          <source>
            <address uuid='53764d0e-85a0-42b4-af5c-2046b460b1dc'/>
          </source>
        </hostdev>
        """,
    "hostdev-caps-net": """
        <hostdev mode='capabilities' type='net'>
          <source>
            <interface>eth0</interface>
          </source>
          <ip address='192.168.122.2' family='ipv4'/>
          <route family='ipv4' address='0.0.0.0' gateway='192.168.122.1'/>
        </hostdev>
        """,
    "redirdev": """
        <redirdev bus='usb' type='spicevmc'>
          <boot order='1'/>
          <address type='usb' bus='0' port='3'/>
        </redirdev>
        """,
    "redirfilter": """
        <redirfilter>
          <usbdev class='0x08' vendor='0x15E1' product='0x2007' version='1.10' allow='yes'/>
          <usbdev allow='no'/>
        </redirfilter>
        """,
    "hub": """
        <hub type='usb'>
          <address type='usb' bus='0' port='1'/>
        </hub>
        """,
    "watchdog": """
        <watchdog model='i6300esb' action='poweroff'>
          <alias name='watchdog0'/>
          <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>
        </watchdog>
        """,
    "memballoon": """
        <memballoon model='virtio' autodeflate='on' freePageReporting='on'>
          <stats period='10'/>
          <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>
          <driver iommu='on' ats='on'/>
        </memballoon>
        """,
    "rng-random": """
        <rng model='virtio'>
          <rate bytes='123' period='1234'/>
          <backend model='random'>/dev/hwrng</backend>
          <driver iommu='on'/>
          <address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/>
        </rng>
        """,
    "rng-egd": """
        <rng model='virtio'>
          <backend model='egd' type='udp'>
            <source mode='bind' service='1234'/>
            <source mode='connect' host='1.2.3.4' service='1234'/>
          </backend>
        </rng>
        """,
    "nvram": """
        <nvram>
          <address type='spapr-vio' reg='0x00003000'/>
        </nvram>
        """,
    "panic": """
        <panic model='isa'>
          <address type='isa' iobase='0x505'/>
        </panic>
        """,
    "shmem": """
        <shmem name='shmem2' role='peer'>
          <model type='ivshmem-doorbell'/>
          <size unit='M'>4</size>
          <server path='/tmp/socket-shmem2'/>
          <msi vectors='32' ioeventfd='on'/>
          <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>
        </shmem>
        """,
    "memory-dimm": """
        <memory model='dimm' access='private' discard='yes'>
          <source>
            <nodemask>1-3</nodemask>
            <pagesize unit='KiB'>2048</pagesize>
          </source>
          <target>
            <size unit='KiB'>524288</size>
            <node>0</node>
          </target>
          <address type='dimm' slot='0' base='0x100000000'/>
        </memory>
        """,
    "memory-nvdimm": """
        <memory model='nvdimm'>
          <uuid>9066901e-c90a-46ad-8b55-c18868cf92ae</uuid>
          <source>
            <path>/tmp/nvdimm</path>
            <alignsize unit='KiB'>2048</alignsize>
            <pmem/>
          </source>
          <target>
            <size unit='KiB'>523264</size>
            <node>0</node>
            <label>
              <size unit='KiB'>128</size>
            </label>
            <readonly/>
          </target>
        </memory>
        """,
    "memory-virtio-mem": """
        <memory model='virtio-mem'>
          <target>
            <size unit='KiB'>1048576</size>
            <node>0</node>
            <block unit='KiB'>2048</block>
            <requested unit='KiB'>524288</requested>
            <current unit='KiB'>524288</current>
          </target>
          <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
        </memory>
        """,
    "iommu": """
        <iommu model='intel'>
          <driver intremap='on' caching_mode='on' eim='on' iotlb='on' aw_bits='48'/>
        </iommu>
        """,
    "vsock": """
        <vsock model='virtio'>
          <cid auto='no' address='4'/>
          <address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/>
          <driver iommu='on'/>
        </vsock>
        """,
    "crypto": """
        <crypto model='virtio' type='qemu'>
          <backend model='builtin' queues='1'/>
          <alias name='crypto0'/>
          <address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/>
        </crypto>
        """,
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_device_roundtrip(name: str) -> None:
    roundtrip(x(SAMPLES[name]))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_device_roundtrip_from_shuffled_input(name: str) -> None:
    """Attribute and child order in the input does not matter: output is libvirt's order."""
    text = x(SAMPLES[name])
    root = parse_xml(text)
    rng = random.Random(name)

    def shuffle(el: object) -> None:
        items = list(el.attrib.items())  # type: ignore[attr-defined]
        rng.shuffle(items)
        el.attrib.clear()  # type: ignore[attr-defined]
        for k, v in items:
            el.set(k, v)  # type: ignore[attr-defined]
        kids = [c for c in el if isinstance(c.tag, str)]  # type: ignore[attr-defined]
        groups: dict[str, list[object]] = collections.OrderedDict()
        for c in kids:
            groups.setdefault(c.tag, []).append(c)
        keys = list(groups)
        rng.shuffle(keys)
        for c in kids:
            el.remove(c)  # type: ignore[attr-defined]
        for k in keys:
            for c in groups[k]:
                el.append(c)  # type: ignore[attr-defined]
        for c in kids:
            shuffle(c)

    shuffle(root)
    cls = DEVICE_CLASSES[str(root.tag)]
    assert cls.from_element(root).to_xml() == text


# ----------------------------------------------------------------------------- addresses

ADDRESSES = [
    "<address type='pci' domain='0x0000' bus='0x00' slot='0x1f' function='0x7' multifunction='on'/>",
    "<address type='pci' domain='0x0001' bus='0x02' slot='0x03' function='0x0'>\n"
    "  <zpci uid='0x0019' fid='0x0000001f'/>\n</address>",
    "<address type='drive' controller='0' bus='0' target='0' unit='1'/>",
    "<address type='virtio-serial' controller='0' bus='0' port='2'/>",
    "<address type='ccid' controller='0' slot='0'/>",
    "<address type='usb' bus='0' port='1.2.3'/>",
    "<address type='spapr-vio' reg='0x00002000'/>",
    "<address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0001'/>",
    "<address type='isa' iobase='0x2f8' irq='0x3'/>",
    "<address type='dimm' slot='1' base='0x100000000'/>",
    "<address type='virtio-mmio'/>",
    "<address type='unassigned'/>",
]


@pytest.mark.parametrize("addr", ADDRESSES)
def test_address_preserved_exactly(addr: str) -> None:
    inner = "\n".join("    " + line for line in addr.splitlines())
    text = (
        "<watchdog model='i6300esb' action='reset'>\n"
        f"{inner}\n"
        "</watchdog>\n"
    ).replace("\n    ", "\n  ")
    _, dev = device_from_xml(text)
    assert dev.to_xml() == text
    assert isinstance(dev.address, Address)  # type: ignore[attr-defined]


def test_address_values_are_strings() -> None:
    a = Address.from_xml(
        "<address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>"
    )
    assert (a.type, a.domain, a.bus, a.slot, a.function) == ("pci", "0x0000", "0x00", "0x03", "0x0")


# ----------------------------------------------------------------------------- contract

DOMAIN_DEVICES = x("""
    <devices>
      <emulator>/usr/bin/qemu-system-x86_64</emulator>
      <disk type='file' device='disk'>
        <driver name='qemu' type='qcow2'/>
        <source file='/var/lib/libvirt/images/a.qcow2'/>
        <target dev='vda' bus='virtio'/>
      </disk>
      <disk type='network' device='cdrom'>
        <source protocol='http' name='/iso/x.iso'>
          <host name='example.org' port='80'/>
        </source>
        <target dev='sda' bus='sata'/>
        <readonly/>
      </disk>
      <controller type='usb' index='0' model='qemu-xhci'/>
      <interface type='network'>
        <mac address='52:54:00:11:22:33'/>
        <source network='default'/>
        <target dev='vnet3'/>
        <model type='virtio'/>
      </interface>
      <interface type='bridge'>
        <mac address='52:54:00:11:22:34'/>
        <source bridge='br0'/>
      </interface>
      <serial type='pty'>
        <target port='0'/>
      </serial>
      <console type='pty'>
        <target type='serial' port='0'/>
      </console>
      <input type='tablet' bus='usb'/>
      <graphics type='vnc' port='-1' autoport='yes'/>
      <video>
        <model type='virtio' heads='1' primary='yes'/>
      </video>
      <memballoon model='virtio'/>
    </devices>
    """)


def test_contract_attributes() -> None:
    d = Devices.from_xml(DOMAIN_DEVICES)
    assert d.emulator == "/usr/bin/qemu-system-x86_64"
    disk = d.disks[0]
    assert (disk.type, disk.device) == ("file", "disk")
    assert disk.source is not None and disk.source.file == "/var/lib/libvirt/images/a.qcow2"
    assert disk.target is not None and (disk.target.dev, disk.target.bus) == ("vda", "virtio")
    assert disk.driver is not None and (disk.driver.name, disk.driver.type) == ("qemu", "qcow2")
    net = d.disks[1]
    assert net.source is not None
    assert (net.source.protocol, net.source.name) == ("http", "/iso/x.iso")
    assert net.source.hosts[0].name == "example.org"
    assert net.readonly is True
    iface = d.interfaces[0]
    assert iface.type == "network"
    assert iface.mac is not None and iface.mac.address == "52:54:00:11:22:33"
    assert iface.source is not None and iface.source.network == "default"
    assert iface.target is not None and iface.target.dev == "vnet3"
    assert iface.model is not None and iface.model.type == "virtio"
    assert d.interfaces[1].source is not None and d.interfaces[1].source.bridge == "br0"
    assert isinstance(d.controllers[0], Controller)
    assert isinstance(d.graphics[0], Graphics) and d.graphics[0].port == "-1"
    assert d.videos[0].model is not None and d.videos[0].model.type == "virtio"
    assert isinstance(d.consoles[0], Console) and d.serials[0].target is not None
    assert d.inputs[0].type == "tablet"
    assert isinstance(d.memballoon, MemBalloon) and d.memballoon.model == "virtio"
    assert d.to_xml() == DOMAIN_DEVICES
    assert d.unknown_paths() == []


def test_all_yields_every_device_in_format_order() -> None:
    d = Devices.from_xml(DOMAIN_DEVICES)
    kinds = [dev.TAG for dev in d.all()]
    assert kinds == [
        "disk", "disk", "controller", "interface", "interface", "serial", "console",
        "input", "graphics", "video", "memballoon",
    ]


def test_devices_are_written_in_libvirt_group_order() -> None:
    text = (
        "<devices><memballoon model='none'/><interface type='user'/>"
        "<disk type='file' device='disk'><target dev='hda' bus='ide'/></disk>"
        "<emulator>/bin/qemu</emulator></devices>"
    )
    out = Devices.from_xml(text).to_xml()
    assert out.index("<emulator>") < out.index("<disk") < out.index("<interface")
    assert out.index("<interface") < out.index("<memballoon")


def test_build_from_python() -> None:
    disk = Disk(
        type="file", device="disk",
        source=DiskSource(file="/img/a.raw"),
        target=DiskTarget(dev="vda", bus="virtio"),
    )
    d = Devices(emulator="/usr/bin/qemu")
    d.add(disk)
    d.add(MemBalloon(model="none"))
    assert d.to_xml() == (
        "<devices>\n"
        "  <emulator>/usr/bin/qemu</emulator>\n"
        "  <disk type='file' device='disk'>\n"
        "    <source file='/img/a.raw'/>\n"
        "    <target dev='vda' bus='virtio'/>\n"
        "  </disk>\n"
        "  <memballoon model='none'/>\n"
        "</devices>\n"
    )


def test_backing_chain_is_recursive() -> None:
    _, disk = device_from_xml(x(SAMPLES["disk-file"]))
    assert isinstance(disk, Disk)
    bs = disk.backing_store
    assert bs is not None and bs.source is not None and bs.source.file == "/var/lib/images/base.img"
    assert bs.backing_store is not None and bs.backing_store.type is None


def test_chr_source_property_and_multiple_sources() -> None:
    _, ser = device_from_xml(x(SAMPLES["serial-udp"]))
    assert len(ser.sources) == 2  # type: ignore[attr-defined]
    assert ser.source.mode == "bind"  # type: ignore[attr-defined]
    _, chan = device_from_xml(x(SAMPLES["channel-unix"]))
    assert isinstance(chan, Channel)
    assert chan.target is not None and chan.target.name == "org.qemu.guest_agent.0"


def test_rng_backend_text() -> None:
    _, rng = device_from_xml(x(SAMPLES["rng-random"]))
    assert rng.backend.path == "/dev/hwrng"  # type: ignore[attr-defined]
    _, egd = device_from_xml(x(SAMPLES["rng-egd"]))
    assert egd.backend.path is None  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- unknown content


def test_unknown_children_and_attributes_are_kept_in_place() -> None:
    text = x("""
        <disk type='file' device='disk' future='1'>
          <driver name='qemu' type='raw'/>
          <source file='/a.img'/>
          <somethingnew level='3'>
            <inner/>
          </somethingnew>
          <target dev='vda' bus='virtio'/>
        </disk>
        """)
    _, disk = device_from_xml(text)
    assert disk.to_xml() == text
    assert disk.unknown_paths() == ["/disk/@future", "/disk/somethingnew"]


def test_unknown_device_kind_kept_in_devices() -> None:
    text = x("""
        <devices>
          <disk type='file' device='disk'>
            <target dev='vda' bus='virtio'/>
          </disk>
          <pstore backend='acpi-erst'>
            <path>/tmp/guest_acpi_esrt</path>
          </pstore>
          <memballoon model='none'/>
        </devices>
        """)
    d = Devices.from_xml(text)
    assert d.to_xml() == text
    assert d.unknown_paths() == ["/devices/pstore"]


# ----------------------------------------------------------------------------- bad values


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("<disk type='floppy' device='disk'/>", "attribute 'type' in element 'disk': 'floppy'"),
        ("<disk type='file' device='tape'/>", "attribute 'device' in element 'disk': 'tape'"),
        ("<disk type='file'><target dev='vda' bus='pcie'/></disk>",
         "attribute 'bus' in element 'target': 'pcie'"),
        ("<interface type='wifi'/>", "attribute 'type' in element 'interface': 'wifi'"),
        ("<controller type='nvme' index='0'/>", "attribute 'type' in element 'controller'"),
        ("<graphics type='x11'/>", "attribute 'type' in element 'graphics': 'x11'"),
        ("<hostdev mode='magic' type='pci'/>", "attribute 'mode' in element 'hostdev'"),
        ("<serial type='telepathy'/>", "attribute 'type' in element 'serial'"),
        ("<filesystem type='nfs'/>", "attribute 'type' in element 'filesystem'"),
        ("<disk type='file' device='disk'><boot order='first'/></disk>",
         "attribute 'order' in element 'boot': 'first'"),
    ],
)
def test_bad_values_raise(text: str, fragment: str) -> None:
    with pytest.raises(XMLError) as exc:
        device_from_xml(text)
    assert fragment in str(exc.value)


def test_device_from_xml_rejects_unknown_kind() -> None:
    with pytest.raises(XMLError, match="unknown device type 'toaster'"):
        device_from_xml("<toaster/>")


def test_device_from_xml_kinds() -> None:
    assert device_from_xml(x(SAMPLES["interface-bridge"]))[0] == "interface"
    kind, dev = device_from_xml(x(SAMPLES["memballoon"]))
    assert kind == "memballoon" and isinstance(dev, MemBalloon)
    assert isinstance(device_from_xml(x(SAMPLES["interface-vdpa"]))[1], Interface)


# ----------------------------------------------------------------------------- libvirt's own files


def _out_dir() -> Path:
    out = conformance_dir("domain") / "out"
    if not out.is_dir():
        pytest.fail(f"conformance data not found at {out} (set VIRTKIT_CONFORMANCE)")
    return out


def _devices_block(text: str) -> str:
    lines = text.splitlines(keepends=True)
    start, end = lines.index("  <devices>\n"), lines.index("  </devices>\n")
    return "".join(line[2:] for line in lines[start:end + 1])


def test_libvirt_written_devices_roundtrip_fully_modelled() -> None:
    """Every <devices> libvirt wrote in its test suite formats back byte for byte,
    with no element or attribute left unmodelled."""
    failures: list[str] = []
    files = sorted(_out_dir().glob("*.xml"))
    assert len(files) > 400
    for path in files:
        text = path.read_text()
        if "  <devices>\n" not in text:
            continue
        block = _devices_block(text)
        devices = Devices.from_xml(block)
        if devices.to_xml() != block or devices.unknown_paths():
            failures.append(path.name)
    assert failures == []


def test_empty_devices_written_with_end_tag() -> None:
    assert Devices().to_xml() == "<devices>\n</devices>\n"
    assert Devices.from_xml("<devices/>").to_xml() == "<devices>\n</devices>\n"
