#!/usr/bin/env bash
# Installs every Debian package siptap needs to build, run and test
# (the list: tools/debian-packages.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update
# tshark asks whether non-root users may capture; answer for it.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
  $(grep -v '^#' tools/debian-packages.txt)
