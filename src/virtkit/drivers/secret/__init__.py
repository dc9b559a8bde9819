"""The secret driver: secrets' definitions and values (libvirt's src/secret)."""
