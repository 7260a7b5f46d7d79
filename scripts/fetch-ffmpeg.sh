#!/usr/bin/env bash
# Fetches the pinned ffmpeg build for one architecture from the imageio-ffmpeg wheel on PyPI (the
# registry we can reach), checks the wheel's SHA-256, and installs it as DEST/bin/ffmpeg. The
# codecs are linked in, but the binary is dynamically linked against glibc (>= 2.28) and libgcc_s
# (infra/ffmpeg-layer/NOTICE.md; scripts/check-layer.sh checks them against provided.al2023).
#
#   scripts/fetch-ffmpeg.sh x86_64|arm64 DEST
#
# The same binary serves tests, the demo and the Lambda layer (`make layer`).
set -euo pipefail
cd "$(dirname "$0")/.."

arch=${1:?arch: x86_64 or arm64}
dest=${2:?destination directory}
version=0.8.1   # imageio-ffmpeg; carries ffmpeg n9.0.2 (GPL v3 build with libx264)
case "$arch" in
  x86_64) platform=manylinux_2_28_x86_64; binary=ffmpeg-linux-x86_64-v9.0.2
          sha256=050d6850601c3b3890bd2b28306f3b842b3daea390a561101174375a1c460bda ;;
  arm64|aarch64) platform=manylinux_2_28_aarch64; binary=ffmpeg-linux-aarch64-v9.0.2
          sha256=fad3176f859b25869e60a8ed79957d4e3ed74a97a95e5f0cdcb91455f6c6d00e ;;
  *) echo "unknown arch $arch" >&2; exit 2 ;;
esac

if [ -x "$dest/bin/ffmpeg" ] && [ "$(cat "$dest/.wheel-sha256" 2>/dev/null)" = "$sha256" ]; then
  exit 0
fi
download=$(mktemp -d)
trap 'rm -rf "$download"' EXIT
.venv/bin/pip download --quiet --disable-pip-version-check --no-deps --only-binary :all: \
  --platform "$platform" --python-version 3.11 --implementation py \
  -d "$download" "imageio-ffmpeg==$version"
wheel=$(ls "$download"/imageio_ffmpeg-*.whl)
# Python's hashlib, not coreutils' sha256sum (absent on macOS, and the venv is here anyway).
.venv/bin/python scripts/sha256-check.py "$sha256" "$wheel"
mkdir -p "$dest/bin"
.venv/bin/python - "$wheel" "imageio_ffmpeg/binaries/$binary" "$dest/bin/ffmpeg" <<'PY'
import shutil, sys, zipfile
wheel, member, target = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(target, "wb") as out:
    shutil.copyfileobj(src, out)
PY
chmod 0755 "$dest/bin/ffmpeg"
echo "$sha256" > "$dest/.wheel-sha256"
echo "ffmpeg ($arch) from imageio-ffmpeg $version installed at $dest/bin/ffmpeg" >&2
