#!/usr/bin/env bash
# Checks the ffmpeg layer zips `make layer` built: layout, executable bit, that each ffmpeg needs
# nothing the Lambda provided.al2023 runtime lacks (shared libraries, glibc and libgcc_s symbol
# versions; infra/ffmpeg-layer/al2023-base-libs.txt), and that the binary for this machine's
# architecture runs from the unzipped layer, every symbol bound, with libx264 available.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(uname -m | sed 's/aarch64/arm64/')
command -v readelf >/dev/null || { echo "installing binutils (Debian package) for readelf"; \
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binutils >/dev/null; }
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
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
  mkdir -p "$unpacked/$arch"
  unzip -q "$zip" -d "$unpacked/$arch"
  .venv/bin/python - "$unpacked/$arch/bin/ffmpeg" "$arch" infra/ffmpeg-layer/al2023-base-libs.txt <<'PY'
import re, subprocess, sys

binary, arch, base_file = sys.argv[1:]
libs, private, maximum = set(), set(), {}
for line in open(base_file):
    words = line.split("#", 1)[0].split()
    if not words:
        continue
    if words[0] == "lib" and (len(words) == 2 or words[2] == arch):
        libs.add(words[1])
    elif words[0] == "private":
        private.add(words[1])
    elif words[0] == "max":
        maximum[words[1]] = tuple(int(n) for n in words[2].split("."))


def readelf(*args):
    return subprocess.run(["readelf", "-W", *args, binary], check=True, capture_output=True, text=True).stdout


problems = []
needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf("-d"))
interp = re.search(r"Requesting program interpreter: ([^\]]+)\]", readelf("-l"))
if not needed or not interp:
    problems.append("not a dynamically linked executable (no NEEDED or no interpreter)")
for lib in needed:
    if lib not in libs:
        problems.append(f"needs {lib}, which is not in the provided.al2023 list")
if interp and interp.group(1).rsplit("/", 1)[-1] not in libs:
    problems.append(f"interpreter {interp.group(1)} is not in the provided.al2023 list")

versions = set(re.findall(r"Name: ((?:GLIBC|GCC)_[0-9A-Z_.]+)", readelf("-V")))
highest = {}
for v in versions:
    family, _, number = v.partition("_")
    if number == "PRIVATE":
        continue
    n = tuple(int(x) for x in number.split("."))
    highest[family] = max(highest.get(family, n), n)
    if n > maximum[family]:
        problems.append(f"requires {v}, newer than {family} {'.'.join(map(str, maximum[family]))}")
used_private = set(re.findall(r"UND (\S+)@GLIBC_PRIVATE", readelf("--dyn-syms")))
for symbol in sorted(used_private - private):
    problems.append(f"uses GLIBC_PRIVATE symbol {symbol}, not in the checked list")

if problems:
    sys.exit(f"{binary} ({arch}):\n  " + "\n  ".join(problems))
print(
    f"ffmpeg-{arch}: dynamically linked ({interp.group(1)}); needs {', '.join(needed)}; "
    + ", ".join(f"{f}_{'.'.join(map(str, n))}" for f, n in sorted(highest.items()))
    + f" at most; {len(used_private)} GLIBC_PRIVATE symbols, all listed: ok for provided.al2023"
)
PY
done
# Every symbol bound at load time (LD_BIND_NOW), not just the ones a short run happens to call.
encoders=$(LD_BIND_NOW=1 "$unpacked/$host/bin/ffmpeg" -hide_banner -encoders 2>/dev/null)
grep -q libx264 <<<"$encoders"
echo "ffmpeg-$host.zip: bin/ffmpeg runs with every symbol bound and has libx264"
