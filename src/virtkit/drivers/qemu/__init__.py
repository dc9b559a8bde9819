"""The QEMU/KVM hypervisor driver (qemu:///system, qemu:///session)."""
