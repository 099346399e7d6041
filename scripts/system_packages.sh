#!/usr/bin/env bash
# The system packages the test suite drives for real: Debian's chromium (browser tests),
# iptables + iproute2 + util-linux (network-enforcement tests in a namespace), libfaketime
# (gateways whose clock crosses UTC day and month boundaries).
# Installs what is missing when run as root on Debian; otherwise names what to install.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
compgen -G '/usr/lib/*/faketime/libfaketime.so.1' >/dev/null || missing+=(libfaketime)

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "make: installing system packages for the tests: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
    echo "make: the tests need these system packages: ${missing[*]}" >&2
    echo "      Debian/Ubuntu: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
