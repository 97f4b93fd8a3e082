#!/usr/bin/env bash
# Installs the Debian packages ttst needs to build and test; a no-op when they are
# all present. Called by both README commands (supervisor/demo.sh, tests/run.sh), so
# a fresh Debian 12 machine needs nothing else. Add packages here, nowhere else.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap        # Bazel 4.2.3, used fully offline (see WORKSPACE)
  gcc g++ clang          # test programs are built with both compilers
  libelf-dev zlib1g-dev  # libelf
  libdwarf-dev           # libdwarf, 20210528 API
  libcapstone-dev        # instruction decoding
  libspdlog-dev libfmt-dev
  doctest-dev libcli11-dev nlohmann-json3-dev
  python3                # test helpers (clients, generators)
  autoconf automake libevent-dev  # real servers built from release sources (tests/realworld)
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "ttst setup: installing ${missing[*]}" >&2
if [[ $(id -u) -ne 0 ]]; then
  echo "ttst setup: missing Debian packages (${missing[*]}); run as root or: sudo apt-get install ${missing[*]}" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
