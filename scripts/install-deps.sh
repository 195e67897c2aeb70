#!/usr/bin/env bash
# Installs the Debian 12 packages vkattn builds and tests with, only the ones
# that are missing. Uses sudo when not run as root.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libxnnpack-dev libpthreadpool-dev libcpuinfo-dev   # CPU backend
  libvulkan-dev mesa-vulkan-drivers vulkan-validationlayers glslang-tools spirv-tools  # Vulkan backend, lavapipe, RADV
  chromium-common                                    # SwiftShader, a second CPU Vulkan implementation
  libpng-dev                                         # vkattn-heatmap's pictures (samples)
  doctest-dev python3-numpy time                     # tests
  python3-dev pybind11-dev python3-pytest            # the Python package and its tests
  python3-torch                                      # the Python tests' PyTorch comparison
  clang libclang-rt-14-dev                           # sanitizer builds and libFuzzer (scripts/test-sanitizers.sh)
)

# SwiftShader ships inside chromium-common, outside the Vulkan loader's
# search path. Registering its driver manifest (with an absolute library
# path) makes every Vulkan program see it beside lavapipe: the tests,
# vkattn-run --list-devices, vkattn-conformance and vkattn-bench.
swiftshader_library=/usr/lib/chromium/libvk_swiftshader.so
swiftshader_manifest=/etc/vulkan/icd.d/vkattn_swiftshader_icd.json

register_swiftshader() {
  [ -f "$swiftshader_library" ] || return 0
  [ -f "$swiftshader_manifest" ] && return 0
  local manifest
  manifest=$(mktemp)
  printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "%s", "api_version": "1.3.0"}}\n' \
    "$swiftshader_library" > "$manifest"
  echo "install-deps: registering SwiftShader's Vulkan driver as $swiftshader_manifest"
  $sudo mkdir -p "$(dirname "$swiftshader_manifest")"
  $sudo install -m 644 "$manifest" "$swiftshader_manifest"
  rm -f "$manifest"
}

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    sudo=missing
  else
    sudo=sudo
  fi
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} > 0)); then
  if [ "$sudo" = missing ]; then
    echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ ! -f "$swiftshader_manifest" ] && [ "$sudo" = missing ]; then
  echo "install-deps: need root or sudo to register SwiftShader's Vulkan driver" >&2
  exit 1
fi
register_swiftshader
