#!/usr/bin/env bash
# Installs the Debian 12 packages vkattn builds and tests with, only the ones
# that are missing. Uses sudo when not run as root.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libxnnpack-dev libpthreadpool-dev libcpuinfo-dev   # CPU backend
  libvulkan-dev mesa-vulkan-drivers vulkan-validationlayers glslang-tools spirv-tools  # Vulkan backend, lavapipe
  doctest-dev python3-numpy time                     # tests
  clang libclang-rt-14-dev                           # sanitizer builds and libFuzzer (scripts/test-sanitizers.sh)
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
  sudo=sudo
fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
