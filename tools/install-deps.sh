#!/usr/bin/env bash
# Installs every Debian package siptap needs to build, run and test.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update
# tshark asks whether non-root users may capture; answer for it.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
  build-essential clang clang-format libclang-rt-14-dev meson ninja-build pkg-config git \
  libpcap-dev libev-dev libosip2-dev libhiredis-dev librdkafka-dev libjansson-dev libinih-dev \
  libsystemd-dev libcriterion-dev \
  tshark redis-server sip-tester iproute2 valgrind systemd
