"""The node-device driver of the real host: devices read from sysfs and udevd's
database as libvirt's udev backend reads them, kept current by kernel uevents
(docs/nodedev.md)."""
