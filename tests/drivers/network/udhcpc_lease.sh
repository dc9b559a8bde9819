#!/bin/sh
# A DHCPv4 lease from busybox's udhcpc, inside a test's network namespace; nothing is configured.
#
# Usage: udhcpc_lease.sh IFACE HOSTNAME [TIMEOUT]
# Prints "lease ADDRESS/PREFIX ROUTER" (among udhcpc's own messages); exit 1 without a lease.
# udhcpc runs this same file for its events (-s): "bound" prints the lease, the others do nothing.
case "$1" in
bound)
    set -- $router
    echo "lease $ip/$mask ${1:-}"
    exit 0
    ;;
deconfig | renew | leasefail | nak)
    exit 0
    ;;
esac
exec busybox udhcpc -f -q -n -i "$1" -x "hostname:$2" -t "${3:-20}" -T 1 -s "$0" 2>&1
