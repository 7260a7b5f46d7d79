"""What headless Chromium shows of each corpus file: the browser the conformance rules follow.

Serves the files on 127.0.0.1 to a page that, for each file, asks WebCodecs' ImageDecoder (the
decoders <img> uses) for its frames, decodes every frame, and checks whether <img> displays it.
One word per file:

    shows WxH frames=N [duration=MSms]
                         every frame decodes (an animation plays for MS: the delays
                         Chromium read, each of 10 ms or less played as 100 ms)
    shows-part WxH       <img> displays it but a frame fails to decode (a truncated file: the
                         part that arrived)
    refuses              <img> does not display it
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

PAGE = """<!doctype html><meta charset="utf-8"><script>
const TYPES = {jpg: "image/jpeg", jpeg: "image/jpeg", mpo: "image/jpeg", png: "image/png",
               apng: "image/png", gif: "image/gif", webp: "image/webp"};
async function view(url) {
  const img = new Image();
  img.src = url;
  const shown = await img.decode().then(() => img.naturalWidth > 0, () => false);
  if (!shown) return "refuses";
  const size = `${img.naturalWidth}x${img.naturalHeight}`;
  try {
    const data = await (await fetch(url)).arrayBuffer();
    const type = TYPES[url.split(".").pop().toLowerCase()];
    const decoder = new ImageDecoder({data, type});
    await decoder.tracks.ready;
    await decoder.completed;
    const frames = decoder.tracks.selectedTrack.frameCount;
    let micros = 0;
    for (let i = 0; i < frames; i++) {
      const {image} = await decoder.decode({frameIndex: i});
      // WebCodecs reports the delay as written; Chromium plays 10 ms or less as 100 ms.
      const written = image.duration || 0;
      micros += written <= 10000 ? 100000 : written;
      image.close();
    }
    return frames > 1 ? `shows ${size} frames=${frames} duration=${Math.round(micros / 1000)}ms`
                      : `shows ${size} frames=${frames}`;
  } catch (e) {
    return `shows-part ${size}`;
  }
}
(async () => {
  const files = await (await fetch("/__files")).json();
  const out = {};
  for (const [name, url] of files) out[name] = await view(url);
  await fetch("/__report", {method: "POST", body: JSON.stringify(out)});
})();
</script>"""


def chromium_binary() -> str | None:
    return shutil.which("chromium")


def views(files: list[tuple[str, Path]], timeout_s: float = 600) -> dict[str, str]:
    """name → what Chromium shows, for every (name, path)."""
    chromium = chromium_binary()
    if chromium is None:
        raise RuntimeError("chromium is not installed")
    by_url = {}
    listing = []
    for index, (name, path) in enumerate(files):
        url = f"/f/{index}/{urllib.parse.quote(path.name)}"
        by_url[url] = path
        listing.append([name, url])
    report: dict = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            path = urllib.parse.unquote(self.path)
            if self.path == "/":
                body, kind = PAGE.encode(), "text/html"
            elif self.path == "/__files":
                body, kind = json.dumps(listing).encode(), "application/json"
            elif self.path in by_url:
                body, kind = by_url[self.path].read_bytes(), "application/octet-stream"
            else:
                self.send_error(404, path)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            length = int(self.headers["Content-Length"])
            report.update(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        browser = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={profile}", f"http://127.0.0.1:{server.server_address[1]}/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while not report and time.monotonic() < deadline and browser.poll() is None:
            time.sleep(0.2)
        # Debian's `chromium` is a launcher script: end the whole process group.
        os.killpg(browser.pid, signal.SIGKILL)
        browser.wait()
    server.shutdown()
    if not report:
        raise RuntimeError("chromium reported nothing")
    return report
