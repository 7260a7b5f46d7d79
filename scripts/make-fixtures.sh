#!/usr/bin/env bash
# Regenerates the small test fixtures and demo samples kept in the repo.
# Needs ImageMagick 6, exiftool and cwebp (Debian: imagemagick libimage-exiftool-perl webp).
# Not run by `make test`: the outputs are committed, so tests don't depend on these tools.
set -euo pipefail
IM=/usr/bin/convert
F=crates/image-processor/tests/fixtures
S=samples
mkdir -p "$F" "$S"

# A "photo" whose stored top-left corner is red: after EXIF orientation 6 (rotate 90° clockwise)
# that corner is at the top right, which the orientation test checks.
$IM -size 2400x1600 gradient:'#1e5a8c-#f0c060' \
  -fill '#2a8c3c' -draw 'circle 1200,800 1200,300' \
  -fill '#ff0000' -draw 'rectangle 0,0 299,199' \
  -fill white -pointsize 120 -annotate +700+1500 'media-edge' \
  -quality 88 "$F/oriented.jpg"
exiftool -q -overwrite_original -Orientation#=6 -Make=TestCam -Model=Fixture \
  -GPSLatitude=37.5665 -GPSLatitudeRef=N -GPSLongitude=126.9780 -GPSLongitudeRef=E \
  -Artist='Patient Name' "$F/oriented.jpg"

$IM -size 2048x1365 gradient:'#203040-#c0d0e0' -fill '#d04020' -draw 'circle 1024,682 1024,200' \
  -interlace JPEG -quality 85 "$F/progressive.jpg"
$IM -size 1200x800 gradient:'#102030-#e0c0a0' -fill '#20a020' -draw 'rectangle 200,200 1000,600' \
  -colorspace CMYK -quality 85 "$F/cmyk.jpg"
$IM -size 900x600 gradient:black-white -colorspace Gray -quality 85 "$F/gray.jpg"

$IM -size 800x600 gradient:'#000000-#ffffff' -depth 16 -define png:color-type=2 "$F/rgb16.png"
$IM -size 640x480 xc:none -fill '#3080ff' -draw 'circle 320,240 320,40' "$F/alpha.png"
$IM -size 640x480 gradient:'#ff0000-#0000ff' -alpha set -define png:color-type=6 "$F/opaque-alpha.png"
$IM -size 500x300 gradient:'#ff8000-#0080ff' -colors 16 -define png:color-type=3 "$F/palette.png"
$IM -size 700x500 gradient:'#00ff00-#ff00ff' -depth 8 -interlace PNG "$F/interlaced.png"
# 400 MP in a 1-bit PNG of a few tens of KB: a decompression bomb.
python3 - "$F/bomb.png" <<'PY'
import struct, sys, zlib
w = h = 20000  # 1-bit grayscale, all white
def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
row = b"\x00" + b"\xff" * ((w + 7) // 8)
idat = zlib.compressobj(9)
data = b"".join(idat.compress(row) for _ in range(h)) + idat.flush()
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0))
png += chunk(b"IDAT", data) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY

$IM -size 400x300 gradient:'#ffff00-#00ffff' -colors 64 "$F/static.gif"
$IM -size 320x240 -delay 10 xc:red xc:green xc:blue -loop 0 "$F/animated.gif"
$IM -size 1000x750 gradient:'#804020-#20c0ff' -fill white -draw 'circle 500,375 500,100' "$F/photo-src.png"
cwebp -quiet -q 80 "$F/photo-src.png" -o "$F/photo.webp"
rm "$F/photo-src.png"

# Demo samples: a camera-like JPEG with EXIF orientation and GPS, a transparent PNG, a WebP,
# a static GIF, and a file that only pretends to be a JPEG.
cp "$F/oriented.jpg" "$S/beach photo (rotated).jpg"
cp "$F/alpha.png" "$S/logo+alpha.png"
cp "$F/photo.webp" "$S/프로모션 banner.webp"
cp "$F/static.gif" "$S/badge.gif"
printf 'this is not an image\n' > "$S/fake.jpg"

# An animated promotional GIF for the demo: a slow zoom over a generated scene with text, made
# with the project's ffmpeg (`make ffmpeg`) and a per-animation palette, as promotion GIFs are.
FF=.local/ffmpeg/$(uname -m | sed 's/aarch64/arm64/')/bin/ffmpeg
$IM -size 960x540 gradient:'#ff7a18-#af002d' -fill '#ffd000' -draw 'circle 700,270 700,120' \
  -fill white -pointsize 90 -annotate +80+300 'SALE -50%' /tmp/media-edge-promo.png
$FF -hide_banner -loglevel error -y -i /tmp/media-edge-promo.png \
  -vf "zoompan=z='1+0.004*on':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=36:s=480x270:fps=12,split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse=dither=bayer:bayer_scale=3" \
  "$S/spring-sale (animated).gif"
rm /tmp/media-edge-promo.png
