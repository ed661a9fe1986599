#!/usr/bin/env bash
# Installs everything semiflow needs on Debian 12. Idempotent; run as root (or with sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libtorch-dev libgloo-dev libtbb-dev libturbojpeg0-dev libjpeg-dev libpng-dev zlib1g-dev libhdf5-dev
  libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libxxhash-dev
  catch2 dataset-fashion-mnist
  chromium  # renders `semiflow report` pages in the report test
  python3-torch  # torchrun, which starts distributed runs (and the distributed test's torchrun part)
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
