"""Driver-neutral CPU logic: libvirt's x86 CPU map, CPUID decoding, compare, baseline."""
