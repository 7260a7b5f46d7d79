#!/usr/bin/env bash
# Builds the ffmpeg Lambda layer zips, one per architecture:
#   target/layers/ffmpeg-arm64.zip, target/layers/ffmpeg-x86_64.zip
# Layout: bin/ffmpeg (mode 0755; Lambda mounts layers at /opt, so it runs as /opt/bin/ffmpeg)
# plus share/doc/ffmpeg/ with the licence notice and the GPL text. The ffmpeg needs glibc and
# libgcc_s from the runtime (provided.al2023 has them; `make layer-check` checks).
# Needs no root and nothing from the system but python3: the wheel comes from PyPI through the
# project venv, and the GPL text is the one kept in infra/ffmpeg-layer/ (the FSF's GPL v3 text,
# as gnu.org and Debian's /usr/share/common-licenses/GPL-3 have it; its SHA-256 pinned below).
set -euo pipefail
cd "$(dirname "$0")/.."

gpl=infra/ffmpeg-layer/COPYING.GPLv3
gpl_sha256=3972dc9744f6499f0f9b2dbf76696f2ae7ad8af9b23dde66d6af86c9dfb36986
.venv/bin/python scripts/sha256-check.py "$gpl_sha256" "$gpl"

out=target/layers
mkdir -p "$out"
for arch in arm64 x86_64; do
  stage=.local/layer/$arch
  rm -rf "$stage/share"
  scripts/fetch-ffmpeg.sh "$arch" "$stage"
  mkdir -p "$stage/share/doc/ffmpeg"
  cp infra/ffmpeg-layer/NOTICE.md "$stage/share/doc/ffmpeg/NOTICE.md"
  cp "$gpl" "$stage/share/doc/ffmpeg/COPYING.GPLv3"
  .venv/bin/python - "$stage" "$out/ffmpeg-$arch.zip" <<'PY'
import os, sys, zipfile
stage, target = sys.argv[1], sys.argv[2]
tmp = target + ".tmp"
with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    for root, _, files in os.walk(stage):
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, stage)
            if rel.startswith("."):
                continue
            info = zipfile.ZipInfo(rel)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if rel == "bin/ffmpeg" else 0o644
            info.external_attr = (0o100000 | mode) << 16  # regular file + permissions, kept by unzip
            with open(path, "rb") as f:
                z.writestr(info, f.read())
os.replace(tmp, target)
PY
  echo "built $out/ffmpeg-$arch.zip ($(du -h "$out/ffmpeg-$arch.zip" | cut -f1))"
done
