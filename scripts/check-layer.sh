#!/usr/bin/env bash
# Checks the ffmpeg layer zips `make layer` built: layout, executable bit, and that the binary
# for this machine's architecture runs from the unzipped layer with libx264 available.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(uname -m | sed 's/aarch64/arm64/')
for arch in arm64 x86_64; do
  zip=target/layers/ffmpeg-$arch.zip
  .venv/bin/python - "$zip" <<'PY'
import stat, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    names = sorted(z.namelist())
    expected = ["bin/ffmpeg", "share/doc/ffmpeg/COPYING.GPLv3", "share/doc/ffmpeg/NOTICE.md"]
    assert names == expected, names
    mode = z.getinfo("bin/ffmpeg").external_attr >> 16
    assert stat.S_ISREG(mode) and mode & 0o777 == 0o755, oct(mode)
print(f"{sys.argv[1]}: layout and mode ok")
PY
done
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
unzip -q "target/layers/ffmpeg-$host.zip" -d "$unpacked"
encoders=$("$unpacked/bin/ffmpeg" -hide_banner -encoders 2>/dev/null)
grep -q libx264 <<<"$encoders"
echo "ffmpeg-$host.zip: bin/ffmpeg runs and has libx264"
