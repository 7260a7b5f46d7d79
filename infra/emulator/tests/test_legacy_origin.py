"""The fallback to a legacy origin (LegacyOriginDomain) through the local edge, with Debian's nginx
on 127.0.0.1 as the old web server and the access log it really writes.

- Off by default: the distribution has no legacy origin and no origin group (the local edge's
  config of a default stack says so).
- On: a file already in the variants bucket is served from it and nginx never sees the request; a
  file not copied yet is the bucket's 404 (its policy grants ListBucket), so CloudFront asks
  nginx, which serves it; a file neither has is nginx's 404; HEAD fails over like GET.
- A path the old server keeps (LegacyPathPatterns) goes only to nginx, any method, with the query
  string and cookies the viewer sent."""
import gzip
import json
import os
import pathlib
import signal
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from infra.emulator import edge

from infra.emulator.tests.test_edge import Edge
from infra.emulator.tests.test_invoke import binary

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node is required for the local edge"),
    pytest.mark.skipif(NGINX is None, reason="nginx is required (make test installs Debian's nginx-light)"),
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Nginx:
    """Debian's nginx in the foreground on 127.0.0.1, serving `root`, logging to `access.log`."""

    def __init__(self, work: pathlib.Path, log_format="combined"):
        self.work, self.port = work, free_port()
        self.root, self.log = work / "root", work / "logs" / "access.log"
        (work / "tmp").mkdir(parents=True)
        (work / "logs").mkdir()
        conf = work / "nginx.conf"
        # As root, nginx's workers would run as nobody, who cannot read pytest's private temp dirs.
        user = "user root;" if os.geteuid() == 0 else ""
        conf.write_text(f"""
{user}
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 64; }}
http {{
    # docs/migration.md's extended format, which `media-edge logs compare` reads beside `combined`.
    log_format media_edge '$remote_addr - $remote_user [$time_local] "$request" $status '
                          '$body_bytes_sent "$http_referer" "$http_user_agent" '
                          'rt=$request_time bs=$bytes_sent ucs=$upstream_cache_status';
    access_log {self.log} {log_format};
    client_body_temp_path {work}/tmp; proxy_temp_path {work}/tmp; fastcgi_temp_path {work}/tmp;
    uwsgi_temp_path {work}/tmp; scgi_temp_path {work}/tmp;
    types {{ text/html html; image/jpeg jpg; }}
    server {{
        listen 127.0.0.1:{self.port};
        root {self.root};
        location /board/ {{ return 200 "board $request_method $args $cookie_session\\n"; }}
    }}
}}
""")
        self.process = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(work)], stderr=subprocess.PIPE, text=True)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                assert self.process.poll() is None, self.process.stderr.read()
                time.sleep(0.05)
        raise AssertionError("nginx did not start")

    def requests(self):
        """The request lines nginx logged (its access log as it wrote it)."""
        return [line.split('"')[1] for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def rotate(self):
        """As logrotate does: move the log aside, have nginx reopen its logs (USR1), gzip the old one."""
        rotated = self.log.with_name(self.log.name + ".1")
        self.log.rename(rotated)
        self.process.send_signal(signal.SIGUSR1)
        for _ in range(100):
            if self.log.exists():
                break
            time.sleep(0.05)
        with open(rotated, "rb") as plain, gzip.open(rotated.with_name(rotated.name + ".gz"), "wb") as packed:
            shutil.copyfileobj(plain, packed)
        rotated.unlink()

    def close(self):
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    n = Nginx(tmp_path_factory.mktemp("nginx"))
    (n.root / "promo").mkdir(parents=True)
    (n.root / "promo" / "copied.html").write_text("legacy copy\n")
    (n.root / "promo" / "not-yet.html").write_text("only on the old server\n")
    yield n
    n.close()


@pytest.fixture(scope="module")
def migrating_stack(stacks, legacy):
    d = stacks.deploy("media-edge-legacy", parameters={
        "LegacyOriginDomain": "127.0.0.1", "LegacyOriginProtocol": "http-only",
        "LegacyOriginPort": str(legacy.port), "LegacyPathPatterns": "/board/*"})
    stacks.client(d, "s3").put_object(Bucket=d["outputs"]["VariantsBucketName"], Key="promo/copied.html",
                                      Body=b"bucket copy\n", ContentType="text/html")
    return d


@pytest.fixture(scope="module")
def migrating(migrating_stack, tmp_path_factory):
    e = Edge(edge.edge_config(migrating_stack), tmp_path_factory.mktemp("edge"))
    yield e
    e.close()


def test_a_default_stack_has_no_legacy_origin(stacks):
    config = edge.edge_config(stacks.deploy("media-edge-no-legacy"))
    assert "legacy" not in config["origins"]
    assert not [o for o in config["origins"].values() if o["type"] == "group"]
    assert {b["targetOriginId"] for b in config["behaviours"]} <= {"variants", "releases", "router"}


def test_the_config_has_the_group_and_the_legacy_origin(migrating_stack, legacy):
    config = edge.edge_config(migrating_stack)
    assert config["origins"]["legacy"] == {"id": "legacy", "resource": None, "type": "http", "protocol": "http",
                                           "host": "127.0.0.1", "port": legacy.port, "path": ""}
    assert config["origins"]["variants-then-legacy"]["members"] == ["variants", "legacy"]
    targets = {b["pathPattern"]: b["targetOriginId"] for b in config["behaviours"]}
    assert targets["*"] == targets["*/manifest.json"] == targets["*.html"] == "variants-then-legacy"
    assert targets["/board/*"] == "legacy" and targets["/sdk/*"] == "releases"


def test_a_copied_file_comes_from_the_bucket_and_nginx_never_sees_it(migrating, legacy):
    before = len(legacy.requests())
    status, headers, body = migrating.get("/promo/copied.html")
    assert (status, body) == (200, b"bucket copy\n")
    assert "x-local-edge-failover" not in headers
    assert len(legacy.requests()) == before


def test_a_file_not_copied_yet_fails_over_to_nginx(migrating, legacy):
    status, headers, body = migrating.get("/promo/not-yet.html")
    assert (status, body) == (200, b"only on the old server\n")
    assert headers["x-local-edge-failover"] == "variants 404"  # the bucket's missing key (ListBucket granted)
    assert headers["x-local-edge-origin"] == "legacy /promo/not-yet.html"
    assert legacy.requests()[-1] == "GET /promo/not-yet.html HTTP/1.1"
    status, headers, body = migrating.get("/promo/not-yet.html", method="HEAD")
    assert status == 200 and body == b"" and headers["x-local-edge-failover"] == "variants 404"
    assert legacy.requests()[-1] == "HEAD /promo/not-yet.html HTTP/1.1"


def test_a_file_neither_has_is_the_old_servers_404(migrating, legacy):
    status, headers, _ = migrating.get("/promo/gone.html")
    assert status == 404 and headers["x-local-edge-origin"] == "legacy /promo/gone.html"
    assert legacy.requests()[-1] == "GET /promo/gone.html HTTP/1.1"


def test_a_kept_path_goes_only_to_nginx_with_method_query_and_cookies(migrating, legacy):
    request = urllib.request.Request(migrating.url + "/board/write?id=7", data=b"title=x", method="POST",
                                     headers={"Cookie": "session=abc"})
    with urllib.request.urlopen(request) as r:
        assert r.status == 200 and r.headers["x-local-edge-behavior"] == "/board/*"
        assert r.read() == b"board POST id=7 abc\n"
    assert legacy.requests()[-1] == "POST /board/write?id=7 HTTP/1.1"
    # A variants path is still the variants behaviour's: a POST there is refused before any origin.
    try:
        urllib.request.urlopen(urllib.request.Request(migrating.url + "/promo/x.html", data=b"", method="POST"))
        raise AssertionError("POST allowed")
    except urllib.error.HTTPError as e:
        assert e.code == 403


def test_logs_compare_reads_what_nginx_and_the_edge_really_wrote(stacks, tmp_path):
    """A site half moved: nginx (the extended log format, rotated and gzipped mid-way) and the
    local edge in front of a stack without a legacy origin (its log in CloudFront's format) get the
    same viewer requests; `media-edge logs compare` finds the file not copied yet and the file
    copied from an older document root, and writes the not-migrated key for the copy."""
    old = Nginx(tmp_path / "nginx", log_format="media_edge")
    try:
        files = {"promo/copied.html": b"same on both\n", "promo/stale.css": b"body { color: red }\n",
                 "promo/not-yet.html": b"only on the old server\n"}
        for key, body in files.items():
            (old.root / key).parent.mkdir(parents=True, exist_ok=True)
            (old.root / key).write_bytes(body)
        d = stacks.deploy("media-edge-compare")
        s3 = stacks.client(d, "s3")
        bucket = d["outputs"]["VariantsBucketName"]
        s3.put_object(Bucket=bucket, Key="promo/copied.html", Body=files["promo/copied.html"], ContentType="text/html")
        s3.put_object(Bucket=bucket, Key="promo/stale.css", Body=b"body{}\n", ContentType="text/css")
        (tmp_path / "cloudfront").mkdir()
        new = Edge(edge.edge_config(d), tmp_path, access_log=tmp_path / "cloudfront" / "local-edge.log")
        try:
            def both(path, rounds=1):
                for server in (f"http://127.0.0.1:{old.port}", new.url):
                    for _ in range(rounds):
                        try:
                            with urllib.request.urlopen(server + path) as r:
                                r.read()
                        except urllib.error.HTTPError as e:
                            e.read()
            both("/promo/copied.html", rounds=3)
            old.rotate()
            both("/promo/stale.css", rounds=2)
            both("/promo/not-yet.html", rounds=2)
            both("/promo/never.html")
        finally:
            new.close()
    finally:
        old.close()
    assert (tmp_path / "nginx" / "logs" / "access.log.1.gz").is_file()
    keys = tmp_path / "not-migrated.txt"
    run = subprocess.run([str(binary("media-edge")), "logs", "compare", "--nginx", str(tmp_path / "nginx" / "logs"),
                          "--cloudfront", str(tmp_path / "cloudfront"), "--format", "json",
                          "--not-migrated", str(keys), "--strict"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stderr  # --strict: something is not migrated
    report = json.loads(run.stdout)
    # Every request both sides served is counted, the gzipped rotated part included.
    assert report["nginx"]["requests"] == report["cloudfront"]["requests"] == 3 + 2 + 2 + 1
    assert report["cloudfront_input"]["malformed_lines"] == report["nginx_input"]["malformed_lines"] == 0
    assert report["nginx_input"]["files"] == 2
    assert [(n["path"], n["nginx_ok"], n["cloudfront_errors"]) for n in report["not_migrated"]] == [
        ("/promo/not-yet.html", 2, 2)]
    assert keys.read_text() == "promo/not-yet.html\n"
    assert [(d["path"], d["nginx_bytes"], d["cloudfront_bytes"]) for d in report["size_differences"]] == [
        ("/promo/stale.css", len(files["promo/stale.css"]), len(b"body{}\n"))]
    paths = {p["path"]: p for p in report["top_paths"]}
    assert paths["/promo/never.html"]["nginx"]["4xx"] == paths["/promo/never.html"]["cloudfront"]["4xx"] == 1
    assert paths["/promo/copied.html"]["cloudfront"]["2xx"] == 3
    # Both sides timed every request (nginx's rt=, the edge's time-taken).
    assert report["nginx"]["p95_ms"] is not None and report["cloudfront"]["p95_ms"] is not None
