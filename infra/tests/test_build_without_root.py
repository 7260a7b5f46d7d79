"""`make build` and `make deploy` need no root on Debian (nor coreutils-only tools): the Lambda
builds target arm64, where mozjpeg-sys compiles libjpeg-turbo's NEON SIMD from C and GNU assembler
and never runs nasm (its build.rs runs nasm only for x86 and x86_64 targets), the ffmpeg layer's
GPL text is kept in the repository, and checksums are checked with Python. `make -n -B` prints every
command the targets would run, prerequisites included, without running any."""
import pathlib
import re
import subprocess

import pytest

import cfn

ROOT = cfn.ROOT
ROOT_ONLY = ("apt-get", "apt ", "dpkg", "sudo", "/usr/share/common-licenses")
NOT_PORTABLE = ("sha256sum",)


def commands(*targets):
    run = subprocess.run(["make", "-n", "-B", *targets], cwd=ROOT, capture_output=True, text=True, check=True)
    return run.stdout


def without_comments(text):
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def scripts_run_by(text, seen=None):
    """The repository's scripts a command text runs, and the scripts they run, transitively."""
    seen = set() if seen is None else seen
    for name in re.findall(r"scripts/[\w.-]+\.(?:sh|py)", without_comments(text)):
        if name not in seen and (ROOT / name).exists():
            seen.add(name)
            scripts_run_by((ROOT / name).read_text(), seen)
    return seen


@pytest.mark.parametrize("target", ["build", "deploy"])
def test_lambda_builds_need_no_root_and_no_nasm(target):
    text = commands(target)
    assert "nasm" not in text
    scripts = scripts_run_by(text)
    if target == "deploy":
        assert {"scripts/build-ffmpeg-layer.sh", "scripts/fetch-ffmpeg.sh"} <= scripts
    for source, body in [("Makefile recipe", text)] + [(s, (ROOT / s).read_text()) for s in sorted(scripts)]:
        code = without_comments(body)
        for word in ROOT_ONLY + NOT_PORTABLE:
            assert word not in code, f"{target}: {source} uses {word!r}"


def test_the_gpl_text_the_layer_ships_is_in_the_repository():
    import hashlib

    text = (ROOT / "infra/ffmpeg-layer/COPYING.GPLv3").read_bytes()
    assert text.startswith(b"                    GNU GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007")
    script = (ROOT / "scripts/build-ffmpeg-layer.sh").read_text()
    pinned = re.search(r"gpl_sha256=([0-9a-f]{64})", script).group(1)
    assert hashlib.sha256(text).hexdigest() == pinned


def test_nasm_is_only_installed_for_x86_64_hosts():
    # `make test` builds natively (x86_64 here): it keeps nasm; an arm64 host needs none.
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^nasm:\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert '"$(HOST_ARCH)" = x86_64' in recipe
    for target in ("build", "deploy"):
        prerequisites = re.search(rf"^{target}:(.*)$", makefile, re.M).group(1).split()
        assert "nasm" not in prerequisites, target


def test_checksums_are_checked_by_python(tmp_path):
    sample = tmp_path / "f"
    sample.write_bytes(b"media-edge\n")
    good = __import__("hashlib").sha256(b"media-edge\n").hexdigest()
    check = ["python3", str(ROOT / "scripts/sha256-check.py")]
    assert subprocess.run(check + [good, str(sample)]).returncode == 0
    bad = subprocess.run(check + ["0" * 64, str(sample)], capture_output=True, text=True)
    assert bad.returncode != 0 and good in bad.stderr
