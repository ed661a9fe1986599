#!/usr/bin/env bash
# Here (Debian 12, with network to Debian's archive): downloads the Debian packages semiflow builds
# against, except libtorch (the GPU machine has its own, in its python3's torch), unpacks them
# into device_kit/prefix (git-ignored) and trims them to what a build needs: headers, shared
# libraries, CMake and pkg-config files. The GPU machine has no package access; the prefix
# travels to it with `carry: ["device_kit/prefix"]` (64 MiB at most with the tree), where
# scripts/device/run_kit.sh builds and checks semiflow against the pip torch.
# Usage: scripts/device/fetch_kit.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
kit=$root/device_kit
packages=(
  libtbb-dev libtbb12 libtbbmalloc2 libtbbbind-2-5
  libturbojpeg0-dev libturbojpeg0 libjpeg62-turbo-dev libjpeg62-turbo
  libhdf5-dev libhdf5-103-1 libhdf5-hl-100 libsz2 libaec0 libcurl4 libnghttp2-14 librtmp1 libssh2-1 libpsl5 libunistring2 libbrotli1
  libldap-2.5-0 libsasl2-2 libsasl2-modules-db libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libkeyutils1
  libyaml-cpp-dev libyaml-cpp0.7 libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 libcli11-dev nlohmann-json3-dev
  libxxhash-dev libxxhash0 catch2 libpng-dev libpng16-16 zlib1g-dev zlib1g libgloo-dev
  dataset-fashion-mnist  # 30 MiB of IDX files: the end-to-end student phase and teacher inference at 224
)
echo "fetch_kit: downloading ${#packages[@]} packages into $kit/debs"
mkdir -p "$kit/debs"
(cd "$kit/debs" && apt-get download "${packages[@]}" > /dev/null)
echo "fetch_kit: unpacking into $kit/prefix"
rm -rf "$kit/prefix"
for deb in "$kit"/debs/*.deb; do dpkg -x "$deb" "$kit/prefix"; done
# What a build does not read: documentation, manuals, static archives, executables.
rm -rf "$kit/prefix/usr/share/doc" "$kit/prefix/usr/share/man" "$kit/prefix/usr/share/lintian" "$kit/prefix/usr/bin" \
       "$kit/prefix/usr/share/bash-completion" "$kit/prefix/etc"
# (CMake packages check that every archive they name exists: Catch2's and libjpeg-turbo's stay.)
find "$kit/prefix" -name '*.a' ! -name 'libCatch2WithMain.a' ! -name 'libjpeg.a' ! -name 'libturbojpeg.a' -delete
# Absolute symlinks (a -dev package's libfoo.so -> /usr/lib/...) must point into the kit instead.
find "$kit/prefix" -type l | while read -r link; do
  target=$(readlink "$link")
  [[ $target == /* ]] || continue
  ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$kit/prefix$target")" "$link"
done
# CMake package files that name /usr (libjpeg-turbo's targets, for one) must name the kit's usr/,
# which the GPU machine has where it has no /usr/lib/x86_64-linux-gnu/libjpeg.so.
find "$kit/prefix" -name '*.cmake' | while read -r file; do
  usr=$(realpath -m --relative-to="$(dirname "$file")" "$kit/prefix/usr")
  sed -i "s|\"/usr/|\"\${CMAKE_CURRENT_LIST_DIR}/$usr/|g; s|\"/usr\"|\"\${CMAKE_CURRENT_LIST_DIR}/$usr\"|g" "$file"
done
size=$(du -sm "$kit/prefix" | cut -f1)
echo "fetch_kit: $kit/prefix holds ${size} MiB"
[ "$size" -le 58 ] || { echo "error: the kit is ${size} MiB; with the tree it must stay under 64 MiB: trim it" >&2; exit 1; }
