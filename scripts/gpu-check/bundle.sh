#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a lent GPU machine that has a CUDA PyTorch, CMake,
# ninja and g++ but none of the project's other dependencies and no network, into the ignored
# folder .devbuild/gpu-check/ (carry it: run(..., carry=[".devbuild/gpu-check"])). Run it here, on
# Debian 12 with scripts/setup.sh's packages.
#
#   deps.tar.xz      usr/...: headers, CMake files and libraries of Debian's packages for the
#                    -DDIFFEDIT_GPU_CHECK=ON build (nlohmann_json, CLI11, ICU, OpenSSL's libcrypto,
#                    HDF5 (static), libpng + libjpeg + zlib, GoogleTest, Google Benchmark), each
#                    shared library with its run-time closure (ldd) except glibc's and the
#                    compiler's own (libstdc++, libgcc_s), which the machine has. No OpenCV:
#                    Debian's pulls ~200 MB of libraries (libopencv_imgcodecs needs GDAL and GDCM
#                    directly); that build reads and writes images with libpng and libjpeg instead
#                    (src/image/codec_libpng.cpp).
#   fixtures.tar.xz  fixtures/: the parity fixtures of the networks that run on the GPU
#                    (diffusers-v0.31 UNets, VAE, DiffEdit; clip-v1 text and vision towers).
#   python.tar.xz    python/: diffusers v0.31's and huggingface_hub's sources (pure Python), used
#                    only when the machine's python3 cannot import diffusers itself. Needs the
#                    `fetch` tool's mirrors (DIFFUSERS_GIT, HUB_GIT); skipped with a note otherwise.
#   manifest.txt     what went in, with sizes.
#
# env: FIXTURES (default ../shared/fixtures), OUT_DIR (default .devbuild/gpu-check),
#      DIFFUSERS_GIT (default /work/.mirror/huggingface+diffusers/repo), HUB_GIT
#      (default /work/.mirror/huggingface+huggingface_hub/repo), HUB_REF (default v0.26.2).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fixtures=${FIXTURES:-$root/../shared/fixtures}
out=${OUT_DIR:-$root/.devbuild/gpu-check}
arch=x86_64-linux-gnu
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$out"

# --- deps.tar.xz -------------------------------------------------------------------------------
p=$stage/deps/usr
mkdir -p "$p/include" "$p/lib/$arch/cmake" "$p/share/cmake"
copy_include() { for x in "$@"; do cp -a "/usr/include/$x" "$p/include/$(dirname "$x")/"; done; }
copy_include nlohmann CLI gtest gmock benchmark libpng16 png.h pngconf.h pnglibconf.h jpeglib.h jerror.h jmorecfg.h zlib.h zconf.h
# Debian's multiarch headers (/usr/include/x86_64-linux-gnu, a default include directory of its
# compiler) go to include/ itself: the bundle's include/ is searched first, and the GPU machine's
# multiarch directory does not have them.
cp /usr/include/$arch/jconfig.h "$p/include/"
# ICU, OpenSSL and HDF5: only the headers that the project's own includes of them reach (g++ -M),
# and openssl/ssl.h, which CMake's FindOpenSSL looks for.
{ grep -rhoE '#include <(unicode/|openssl/|hdf5)[^>]*>' "$root/src" "$root/tests"; echo '#include <openssl/ssl.h>'; } | sort -u > "$stage/includes.cpp"
g++ -std=c++20 -M -I/usr/include/hdf5/serial "$stage/includes.cpp" | tr ' \\' '\n\n' |
  grep -E "^/usr/include/(unicode|openssl|$arch/openssl|hdf5/serial)/" | sort -u | while read -r h; do
    rel=${h#/usr/include/}
    rel=${rel#$arch/}
    mkdir -p "$p/include/$(dirname "$rel")" && cp "$h" "$p/include/$rel"
  done
cp -a /usr/share/cmake/nlohmann_json /usr/share/cmake/CLI11 "$p/share/cmake/"
cp -a /usr/lib/$arch/cmake/GTest /usr/lib/$arch/cmake/benchmark "$p/lib/$arch/cmake/"
# Static test libraries, and each shared library the build links, with its development symlinks.
cp -a /usr/lib/$arch/lib{gtest,gtest_main,gmock,gmock_main,benchmark_main}.a "$p/lib/$arch/"
# HDF5 is linked statically (its archive): Debian's shared libhdf5 needs libcurl (for its S3 driver,
# which the project never uses) and so ~25 more libraries, 4.5 MB compressed; the archive's objects
# that the project uses need only libsz (+ libaec) and zlib.
cp -L /usr/lib/$arch/libhdf5_serial.a "$p/lib/$arch/"
linked=(libicuuc.so libicui18n.so libicudata.so libcrypto.so libsz.so libaec.so libpng16.so libpng.so libjpeg.so libz.so libbenchmark.so)
for l in "${linked[@]}"; do
  for f in /usr/lib/$arch/$l /usr/lib/$arch/$l.*; do [ -e "$f" ] && cp -a "$f" "$p/lib/$arch/"; done
  cp -L "/usr/lib/$arch/$l" "$p/lib/$arch/$(readlink -f "/usr/lib/$arch/$l" | xargs basename)"
done
ln -sf libz.so.1 "$p/lib/$arch/libz.so"  # Debian's link is absolute
# Run-time closure: every library these need, except glibc's and the compiler runtime's.
system='^(libc|libm|libdl|libpthread|librt|libresolv|libutil|libanl|ld-linux-x86-64|libstdc\+\+|libgcc_s)\.so'
for l in "${linked[@]}"; do ldd "/usr/lib/$arch/$l"; done | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
  while read -r name path; do
    [[ $name =~ $system ]] && continue
    [ -e "$p/lib/$arch/$name" ] || cp -L "$path" "$p/lib/$arch/$name"
  done
tar -C "$stage/deps" -cf - usr | xz -T2 -9 > "$out/deps.tar.xz"

# --- fixtures.tar.xz ---------------------------------------------------------------------------
fx=(diffusers-v0.31/unet_sd1_tiny diffusers-v0.31/vae_tiny diffusers-v0.31/diffedit_tiny clip-v1/text_sd1 clip-v1/vision)
for f in "${fx[@]}"; do [ -e "$fixtures/$f" ] || { echo "bundle: missing fixture $fixtures/$f" >&2; exit 1; }; done
# (diffedit_tiny's trace.safetensors, the reference's per-step trace, is read by no test.)
tar -C "$fixtures" --exclude=trace.safetensors --transform 's,^,fixtures/,' -cf - "${fx[@]}" | xz -T2 -9 > "$out/fixtures.tar.xz"

# --- python.tar.xz -----------------------------------------------------------------------------
dgit=${DIFFUSERS_GIT:-/work/.mirror/huggingface+diffusers/repo}
hgit=${HUB_GIT:-/work/.mirror/huggingface+huggingface_hub/repo}
if git --git-dir "$dgit" rev-parse -q --verify v0.31.0 >/dev/null 2>&1 &&
  git --git-dir "$hgit" rev-parse -q --verify "${HUB_REF:-v0.26.2}" >/dev/null 2>&1; then
  mkdir -p "$stage/python/python"
  git --git-dir "$dgit" archive v0.31.0 src/diffusers | tar -x -C "$stage/python/python" --strip-components=1
  git --git-dir "$hgit" archive "${HUB_REF:-v0.26.2}" src/huggingface_hub | tar -x -C "$stage/python/python" --strip-components=1
  find "$stage/python" -name '__pycache__' -prune -exec rm -rf {} +
  tar -C "$stage/python" -cf - python | xz -T2 -9 > "$out/python.tar.xz"
else
  rm -f "$out/python.tar.xz"
  echo "bundle: no diffusers v0.31.0 / huggingface_hub mirror: python.tar.xz not written (diffusers is then used only if installed)" >&2
fi

{
  echo "# scripts/gpu-check/bundle.sh, $(date -u +%FT%TZ)"
  echo "deps: $(tar -tJf "$out/deps.tar.xz" | grep -c '\.so')" shared-library entries
  ls -l "$out"/*.tar.xz | awk '{print $5, $9}'
  echo "libraries (uncompressed bytes):"
  (cd "$p/lib/$arch" && find . -maxdepth 1 -type f -name '*.so*' -printf '%s %f\n' | sort -rn)
  echo "fixtures: ${fx[*]}"
} > "$out/manifest.txt"
# The device call carries the working tree (tracked and untracked-not-ignored files) and this
# folder: 64 MiB in all.
bundle=$(du -cb "$out"/* | tail -1 | cut -f1)
tree=$(cd "$root" && { git ls-files -z; git ls-files -z --others --exclude-standard; } | xargs -0 du -cb 2> /dev/null | awk '/total$/ {s += $1} END {print s}')
awk -v b="$bundle" -v t="$tree" -v d="$out" 'BEGIN {
  printf "bundle: %.1f MiB in %s; with the working tree (%.1f MiB): %.1f MiB of the 64 MiB a device call carries\n", b / 1048576, d, t / 1048576, (b + t) / 1048576
  if (b + t > 64 * 1048576) { print "bundle: TOO LARGE to carry"; exit 1 } }'
