#!/usr/bin/env python3
"""Writes CloudFront standard access logs (legacy W3C format, all 33 fields) for a day of
media-edge traffic: variants (AVIF, WebP or JPEG by the viewer's browser, as the format
negotiation function picks, under the one JPEG URL), promotional GIFs still served as GIF, video,
the release router's SDK and app files, errors, redirects and range requests, with an
evening-peaking (KST) curve. Deterministic for a seed. Used for samples/cdn-logs (tests, demo) and
the `make bench` log set. With --manifests, also the pipeline's manifests of the variants' originals
(laid out like the variants bucket; one original replaced since, one without a manifest), for
`media-edge logs --manifests`.

  scripts/make-sample-logs.py OUT_DIR [--requests N] [--seed S] [--files-per-hour K] [--plain-hours H,H]
                               [--malformed-hour H] [--date YYYY-MM-DD] [--manifests DIR]
"""
import argparse
import gzip
import json
import pathlib
import random

FIELDS = (
    "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) "
    "cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol "
    "cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version "
    "fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type "
    "sc-content-len sc-range-start sc-range-end"
)
DISTRIBUTION = "E2QWRUHAPOMQZL"
HOST = "d111111abcdef8.cloudfront.net"
EDGES = ["ICN57-P1", "ICN54-C2", "NRT20-C1", "KIX56-P1", "SIN2-C1"]
AGENTS = [
    # (user agent as CloudFront logs it: URL-encoded, weight)
    ("Mozilla/5.0%20(iPhone;%20CPU%20iPhone%20OS%2018_1%20like%20Mac%20OS%20X)%20AppleWebKit/605.1.15"
     "%20(KHTML,%20like%20Gecko)%20Version/18.1%20Mobile/15E148%20Safari/604.1", 34),
    ("Mozilla/5.0%20(Linux;%20Android%2015;%20SM-S928N)%20AppleWebKit/537.36%20(KHTML,%20like%20Gecko)"
     "%20Chrome/131.0.0.0%20Mobile%20Safari/537.36", 30),
    ("Mozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)%20AppleWebKit/537.36%20(KHTML,%20like%20Gecko)"
     "%20Chrome/131.0.0.0%20Safari/537.36", 22),
    ("Mozilla/5.0%20(Macintosh;%20Intel%20Mac%20OS%20X%2014_7)%20AppleWebKit/605.1.15%20(KHTML,%20like%20Gecko)"
     "%20Version/18.1%20Safari/605.1.15", 10),
    ("Mozilla/5.0%20(iPhone;%20CPU%20iPhone%20OS%2015_8%20like%20Mac%20OS%20X)%20AppleWebKit/605.1.15"
     "%20(KHTML,%20like%20Gecko)%20Version/15.6%20Mobile/15E148%20Safari/604.1", 8),
    ("Mozilla/5.0%20(compatible;%20Googlebot/2.1;%20+http://www.google.com/bot.html)", 4),
]
# What the format negotiation function serves each browser for a still variant's URL (its Accept
# header: AVIF since Chrome 85 and Safari 16.4, WebP since Safari 14; the crawler sends neither),
# and the representation's size against the JPEG's.
FORMAT_BY_AGENT = {"Version/18.1": "avif", "Chrome/131": "avif", "Version/15.6": "webp"}
FORMATS = {"avif": ("image/avif", 0.5), "webp": ("image/webp", 0.72), "jpeg": ("image/jpeg", 1.0)}
# Requests per UTC hour, relative: Korea's evening (UTC 10–14) is the peak, its night the trough.
HOURLY = [5, 6, 6, 7, 8, 8, 9, 9, 10, 12, 14, 15, 15, 13, 11, 8, 5, 3, 2, 2, 2, 3, 3, 4]


def objects(rng, originals):
    """(uri, content type, size, popularity, max-age cached?) for the day's catalogue; each
    original's (path, version, format, bytes) is appended to `originals`."""
    catalogue = []
    for n in range(60):
        version = "%012x" % rng.getrandbits(48)
        base = f"/variants/promo/2026/item-{n:03d}.jpg/{version}"
        originals.append((base.rsplit("/", 1)[0], version, "JPEG", int(3_200_000 * rng.uniform(0.4, 1.8))))
        weight = 1.0 / (n + 1) ** 0.9
        for variant, size in (("thumbnail", 9_000), ("mobile", 48_000), ("tablet", 120_000), ("pc", 310_000)):
            catalogue.append((f"{base}/{variant}.jpg", "image/jpeg", int(size * rng.uniform(0.6, 1.4)),
                              weight * {"thumbnail": 3, "mobile": 2, "tablet": 0.5, "pc": 1}[variant], True))
    for n in range(6):
        version = "%012x" % rng.getrandbits(48)
        base = f"/variants/promo/2026/sale-{n}.gif/{version}"
        originals.append((base.rsplit("/", 1)[0], version, "GIF", int(14_000_000 * rng.uniform(0.5, 1.5))))
        catalogue.append((f"{base}/video.mp4", "video/mp4", int(2_400_000 * rng.uniform(0.5, 1.5)), 0.4 / (n + 1), True))
        catalogue.append((f"{base}/video-mobile.mp4", "video/mp4", int(900_000 * rng.uniform(0.5, 1.5)), 0.6 / (n + 1), True))
        catalogue.append((f"{base}/poster.jpg", "image/jpeg", int(150_000 * rng.uniform(0.5, 1.5)), 0.5 / (n + 1), True))
    # Legacy pages still embed the original GIFs: the report's first optimisation candidates.
    for n, name in enumerate(["summer-sale", "black-friday", "coupon-burst"]):
        catalogue.append((f"/legacy/promo/{name}.gif", "image/gif", int(12_000_000 * rng.uniform(0.4, 1.6)), 0.5 / (n + 1), True))
    catalogue += [
        ("/sdk/sdk.js", "application/javascript", 84_000, 2.5, True),
        ("/app/index.html", "text/html;%20charset=utf-8", 6_200, 1.5, False),
        ("/app/assets/app.css", "text/css", 41_000, 1.2, True),
        ("/app/assets/app.js", "application/javascript", 220_000, 1.2, True),
        ("/variants/promo/2026/manifest-feed.json", "application/json", 3_100, 0.8, False),
    ]
    return catalogue


def line(rng, day, hour, catalogue, weights):
    uri, content_type, size, _, cacheable = rng.choices(catalogue, weights)[0]
    agent = rng.choices(AGENTS, [w for _, w in AGENTS])[0][0]
    # Phones mostly get phone-sized variants; some legacy pages hand them the PC one.
    if "Mobile" in agent and uri.endswith("/pc.jpg") and rng.random() < 0.6:
        uri, size = uri[: -len("pc.jpg")] + "mobile.jpg", size // 6
    if uri.startswith("/variants/") and uri.endswith(".jpg"):
        negotiated = next((f for token, f in FORMAT_BY_AGENT.items() if token in agent), "jpeg")
        content_type, scale = FORMATS[negotiated]
        size = int(size * scale)
    status, result, bytes_out, content_len, range_start, range_end = 200, "Hit", size, size, "-", "-"
    roll = rng.random()
    if roll < 0.02:
        status, result, bytes_out, content_type, content_len = 404, "Error", 915, "text/html", 915
        uri = uri.rsplit("/", 1)[0] + "/missing.png"
    elif roll < 0.03:
        status, result, bytes_out, content_type, content_len = 301, "Redirect", 520, "text/html", 183
    elif roll < 0.06:
        status, result, bytes_out, content_len = 304, "RefreshHit", 310, "-"
    elif not cacheable or roll < 0.06 + (0.25 if uri.endswith(".gif") else 0.08):
        result = "Miss"
    if content_type == "video/mp4" and status == 200 and rng.random() < 0.5:
        status, range_start = 206, 0
        range_end = min(size, 1 << 20) - 1
        bytes_out = range_end + 1
    if status in (200, 206):
        bytes_out += 480  # response headers
    second = rng.randrange(3600)
    time = f"{hour:02d}:{second // 60:02d}:{second % 60:02d}"
    ip = f"{rng.choice([203, 198, 175, 211])}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    request_id = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") for _ in range(56))
    taken = round(rng.uniform(0.001, 0.02) if result.endswith("Hit") else rng.uniform(0.05, 0.9), 3)
    fields = [
        day, time, rng.choice(EDGES), str(bytes_out), ip, "GET", HOST, uri, str(status),
        "https://shop.example.com/" if rng.random() < 0.7 else "-", agent, "-", "-", result, request_id + "==",
        "cdn.example.com", "https", str(rng.randrange(180, 700)), str(taken), "-", "TLSv1.3",
        "TLS_AES_128_GCM_SHA256", result, "HTTP/2.0", "-", "-", str(rng.randrange(1024, 65535)), str(taken),
        result, content_type, str(content_len), str(range_start), str(range_end),
    ]
    return time, "\t".join(fields)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=pathlib.Path)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--date", default="2026-11-21")
    parser.add_argument("--files-per-hour", type=int, default=1)
    parser.add_argument("--plain-hours", default="", help="hours written uncompressed (comma-separated)")
    parser.add_argument("--malformed-hour", type=int, default=None, help="hour whose file gets broken lines")
    parser.add_argument("--manifests", type=pathlib.Path, help="also write the originals' manifests here")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    originals = []
    catalogue = objects(rng, originals)
    weights = [c[3] for c in catalogue]
    plain = {int(h) for h in args.plain_hours.split(",") if h}
    args.out.mkdir(parents=True, exist_ok=True)
    total = sum(HOURLY)
    for hour in range(24):
        for part in range(args.files_per_hour):
            count = args.requests * HOURLY[hour] // total // args.files_per_hour
            lines = sorted(line(rng, args.date, hour, catalogue, weights) for _ in range(count))
            body = [l for _, l in lines]
            if hour == args.malformed_hour:
                # A line cut short (disk full mid-write) and one with a garbled byte count.
                body.insert(len(body) // 3, body[0][: len(body[0]) // 2])
                broken = body[len(body) // 2].split("\t")
                broken[3] = "12O4"
                body.insert(len(body) // 2, "\t".join(broken))
            text = "#Version: 1.0\n#Fields: " + FIELDS + "\n" + "\n".join(body) + "\n"
            name = f"{DISTRIBUTION}.{args.date}-{hour:02d}.{rng.getrandbits(32):08x}"
            if hour in plain:
                (args.out / name).write_text(text)
            else:
                # mtime=0: the same bytes every run.
                (args.out / f"{name}.gz").write_bytes(gzip.compress(text.encode(), compresslevel=6, mtime=0))


    if args.manifests:
        write_manifests(args.manifests, originals, args.date)


def write_manifests(root, originals, date):
    """The fields of the pipeline's manifest.json that say which original a variant came from.
    The third original was replaced after the day's logs (its manifest is of a newer version) and
    the fourth has none (deleted): `media-edge logs --manifests` counts both as unknown."""
    for n, (path, version, source_format, source_bytes) in enumerate(originals):
        if n == 3:
            continue
        if n == 2:
            version = "%012x" % (int(version, 16) ^ 1)
        manifest = {
            "schema": "media-edge.manifest",
            "version": 2,
            "source": {"key": "uploads/" + path.removeprefix("/variants/")},
            "source_version": version,
            "source_format": source_format,
            "source_bytes": source_bytes,
            "created_at": f"{date}T00:00:00Z",
        }
        target = root / path.lstrip("/") / "manifest.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
