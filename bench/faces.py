#!/usr/bin/env python3
"""Fetches the photos of bench/faces/labels.json into target/bench/faces (for the face-hits example).

    python3 bench/faces.py            # prints the directory

They come from packages on PyPI (pip download, no install): face_recognition's sdist (its test
portraits), scikit-image's wheel (`astronaut`, `camera`) and insightface's wheel (`t1`, a group).
Not committed: their licences are theirs, as with the Debian wallpapers of the formats bench.
"""
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LABELS = ROOT / "bench/faces/labels.json"
OUT = ROOT / "target/bench/faces"
# Pinned: the boxes were checked on these versions' files.
PACKAGES = {
    "face_recognition": ["face_recognition==1.3.0", "--no-binary", ":all:"],
    "scikit-image": ["scikit-image==0.26.0", "--only-binary", ":all:"],
    "insightface": ["insightface==2.1", "--only-binary", ":all:"],
}


def main():
    photos = json.loads(LABELS.read_text())["photos"]
    OUT.mkdir(parents=True, exist_ok=True)
    missing = [p for p in photos if not (OUT / Path(p["path"]).name).exists()]
    with tempfile.TemporaryDirectory() as tmp:
        for package in sorted({p["package"] for p in missing}):
            download = Path(tmp) / package
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", download,
                            *PACKAGES[package]], check=True)
            archive = next(download.iterdir())
            for photo in (p for p in missing if p["package"] == package):
                target = OUT / Path(photo["path"]).name
                if archive.suffix == ".whl":
                    with zipfile.ZipFile(archive) as z:
                        target.write_bytes(z.read(photo["path"]))
                else:
                    with tarfile.open(archive) as t:
                        try:
                            member = t.extractfile(photo["path"])
                        except KeyError:
                            member = None
                        if member is None:
                            sys.exit(f"{photo['path']} is not a file in {archive.name}")
                        target.write_bytes(member.read())
    print(OUT)


if __name__ == "__main__":
    main()
