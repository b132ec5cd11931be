#!/usr/bin/env python3
"""Renders an HTML file in a real headless chromium and reports what a reader would get.

    render_check.py FILE.html [--screenshot OUT.png] [--pdf OUT.pdf] [--out RESULT.json]
                    [--timeout SECONDS] [--tmp DIR]
    render_check.py FILE.html FILE2.html... [--out RESULT.json] [--tmp DIR]

Several files share one chromium (its start-up is most of a small page's time), a tab each;
each file's screenshot and PDF go next to it (NAME.png, NAME.pdf) unless named.

Drives chromium over the DevTools protocol on a pipe (--remote-debugging-pipe: the browser
reads NUL-terminated JSON commands on fd 3 and writes replies and events on fd 4), so no port is
opened. Every network request goes to a dead proxy (127.0.0.1:9, loopback included), so nothing
leaves the machine even if the page asked for it; the page's own Content-Security-Policy should
stop any such request before that, and the report lists every request the page made anyway.

Prints (or writes to --out) one JSON object per file (a list for several): the requests other than the file itself, the data:
URLs, console messages, uncaught exceptions, log entries (errors and warnings, among them CSP
violations), the screenshot's size and whether it is blank, the A4 PDF's page count, the body's
text, the release metadata section's text and every element that carries data-row and
data-col. Exits 0 when the page was rendered (the caller judges the result) and non-zero, with a
message on stderr, when chromium could not be started or did not answer in time.

Chromium's profile (its HOME too) is a directory made in --tmp (default: the first file's
directory), so that nothing is left in /tmp or $HOME even when this script is killed with
SIGKILL: the caller owns that directory and removes it.

Python standard library only (tests/testing/browser_check.h runs it; scripts/setup installs
chromium).
"""

import argparse
import base64
import ctypes
import json
import os
import pathlib
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

CHROMIUM = os.environ.get("KOPPEL_CHROMIUM", "/usr/bin/chromium")

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

# A4 in inches, as Page.printToPDF takes it.
A4_WIDTH_IN = 8.27
A4_HEIGHT_IN = 11.69

# The width the page is laid out at: a desktop window.
VIEWPORT_WIDTH = 1200
VIEWPORT_HEIGHT = 900

# The non-blank check decodes a reduced copy of the full page in pure Python; this bounds its
# pixel count (and so the time the decoding takes).
ANALYSIS_MAX_PIXELS = 400_000

# What "non-blank" means: the page shows more than a handful of colours and a visible part of it
# is not the white background.
MIN_DISTINCT_COLOURS = 8
MIN_NON_WHITE_FRACTION = 0.01

# Every element of the DOM contract (an HTML table cell or a chart mark): what a test needs to
# compare it with the CSV release, including every attribute, so that a value hidden in one
# (aria-label, title, a position) is seen.
ELEMENTS_SCRIPT = r"""
Array.from(document.querySelectorAll('[data-row][data-col]')).map((e) => {
  const box = e.getBoundingClientRect();
  const owner = e.closest('[data-table]');
  const attributes = {};
  for (const a of e.attributes) attributes[a.name] = a.value;
  // The chart the element is in, and the size a suppressed mark is drawn at as the SVG gives
  // it (its own or its first rect's width and height attributes).
  const svg = e.closest('figure.chart svg');
  const shape = e.matches('rect') ? e : e.querySelector('rect');
  return {
    tag: e.tagName.toLowerCase(),
    class: e.getAttribute('class') || '',
    table: owner ? owner.getAttribute('data-table') : '',
    in_chart: e.closest('figure.chart') !== null,
    chart: svg ? Array.from(document.querySelectorAll('figure.chart svg')).indexOf(svg) : -1,
    svg_width: shape ? shape.getAttribute('width') : null,
    svg_height: shape ? shape.getAttribute('height') : null,
    row: e.getAttribute('data-row'),
    col: e.getAttribute('data-col'),
    value: e.getAttribute('data-value'),
    suppressed: e.getAttribute('data-suppressed'),
    text: e.textContent,
    attributes: attributes,
    box: {x: box.x + window.scrollX, y: box.y + window.scrollY, width: box.width,
          height: box.height},
  };
})
"""

PAGE_FACTS_SCRIPT = r"""
(() => {
  const metadata = document.getElementById('release-metadata');
  const firstSection = document.body ? document.body.querySelector('section') : null;
  const csp = document.querySelector('meta[http-equiv="Content-Security-Policy"]');
  return {
    title: document.title,
    text: document.body ? document.body.innerText : '',
    metadata_text: metadata ? metadata.innerText : null,
    first_section_id: firstSection ? firstSection.id : null,
    csp: csp ? csp.getAttribute('content') : null,
    scripts: document.scripts.length,
    tables: document.querySelectorAll('table.release-table').length,
    charts: document.querySelectorAll('figure.chart').length,
    // Chart text not tied to a cell (units, names, reference lines), axis ticks apart.
    chart_labels: Array.from(document.querySelectorAll('figure.chart svg text')).filter(
        (t) => t.closest('[data-row][data-col]') === null && t.closest('g.axis') === null).map(
        (t) => t.textContent),
    tick_labels: Array.from(document.querySelectorAll('figure.chart svg g.axis text')).map(
        (t) => t.textContent),
    // Per chart, in document order: its table, its text alternatives and the cells it draws.
    chart_texts: Array.from(document.querySelectorAll('figure.chart')).map((f) => {
      const part = (selector) => {
        const e = f.querySelector(selector);
        return e ? e.textContent : '';
      };
      return {
        table: f.getAttribute('data-table') || '',
        title: part('svg title'),
        desc: part('svg desc'),
        caption: part('figcaption'),
        cells: Array.from(f.querySelectorAll('[data-row][data-col]')).map((e) => ({
          row: e.getAttribute('data-row'),
          col: e.getAttribute('data-col'),
          value: e.getAttribute('data-value'),
        })),
      };
    }),
    charts_with_text_alternative: Array.from(document.querySelectorAll('figure.chart')).filter(
        (f) => f.querySelector('svg title') && f.querySelector('svg desc') &&
               f.querySelector('figcaption')).length,
  };
})()
"""


class RenderError(Exception):
    """The browser could not be started or did not answer."""


class Browser:
    """One chromium process driven over --remote-debugging-pipe."""

    def __init__(self, deadline, tmp):
        self._deadline = deadline
        # In a directory the caller owns, not /tmp: a SIGKILL of this script leaves it there,
        # and the caller removes it.
        self._profile = tempfile.mkdtemp(prefix="koppel-render-", dir=tmp)
        self._log = open(os.path.join(self._profile, "chromium.log"), "w+b")
        self._next_id = 0
        self._buffer = b""
        self.events = []
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def prepare_child():  # in the child, before exec
            # The protocol's fixed descriptors.
            os.dup2(to_browser_read, 3)
            os.dup2(from_browser_write, 4)
            # Chromium dies with this script even when it is killed without a chance to clean
            # up (PR_SET_PDEATHSIG); its helpers exit with it.
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

        args = [
            CHROMIUM,
            "--headless=new",
            # The tests run as root in a container, where chromium's sandbox cannot start (it
            # needs user namespaces or a setuid helper); the page is our own output, carries no
            # script and is loaded with the network routed to nowhere.
            "--no-sandbox",
            "--disable-gpu",
            # Explicitly: Debian's /usr/bin/chromium wrapper adds it only when its own /dev/shm
            # check works, and a small /dev/shm (containers) crashes the renderer.
            "--disable-dev-shm-usage",
            "--disable-crash-reporter",
            "--remote-debugging-pipe",
            "--user-data-dir=" + self._profile,
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-component-update",
            "--hide-scrollbars",
            "--mute-audio",
            # Nothing leaves the machine: every request, loopback included, goes to a port
            # where nothing listens.
            "--proxy-server=127.0.0.1:9",
            "--proxy-bypass-list=<-loopback>",
            "about:blank",
        ]
        # Chromium writes its config and caches under HOME and XDG_*: keep them in the profile.
        environment = dict(os.environ, HOME=self._profile, XDG_CONFIG_HOME=self._profile,
                           XDG_CACHE_HOME=self._profile, XDG_DATA_HOME=self._profile)
        try:
            # Not pass_fds: it keeps descriptors under their own numbers, and the protocol
            # needs them as 3 and 4. Every other descriptor of this process is close-on-exec.
            self._process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                close_fds=False, preexec_fn=prepare_child, start_new_session=True,
                env=environment)
        except OSError as error:
            self._cleanup_files()
            raise RenderError(f"cannot start {CHROMIUM}: {error} (scripts/setup installs it)")
        finally:
            os.close(to_browser_read)
            os.close(from_browser_write)

    def seconds_left(self):
        return self._deadline - time.monotonic()

    def close(self):
        """Kills chromium and everything it started, and removes its profile."""
        # The whole group, even when chromium itself has exited: its helpers may not have.
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        self._cleanup_files()

    def _cleanup_files(self):
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def log_tail(self):
        try:
            with open(os.path.join(self._profile, "chromium.log"), "rb") as log:
                return log.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def send(self, method, params=None, session=None):
        """Sends a command and returns its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        try:
            while data:
                written = os.write(self._to_browser, data)
                data = data[written:]
        except OSError as error:
            raise RenderError(f"chromium closed the protocol pipe ({error}): {self.log_tail()}")
        while True:
            reply = self._read_message()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RenderError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for_event(self, method, session, seconds):
        """True once `method` arrived for `session` (or had already), false after `seconds`."""
        until = min(self._deadline, time.monotonic() + seconds)
        seen = lambda e: e.get("method") == method and e.get("sessionId") == session
        if any(seen(e) for e in self.events):
            return True
        while time.monotonic() < until:
            event = self._read_message(until)
            if event is None:
                return False
            self.events.append(event)
            if seen(event):
                return True
        return False

    def drain(self, seconds):
        """Collects the events that arrive within `seconds` (late console messages)."""
        until = min(self._deadline, time.monotonic() + seconds)
        while True:
            event = self._read_message(until)
            if event is None:
                return
            self.events.append(event)

    def _read_message(self, until=None):
        """The next message; None when `until` passed first. Raises at the overall deadline."""
        while b"\0" not in self._buffer:
            now = time.monotonic()
            limit = self._deadline if until is None else min(until, self._deadline)
            if now >= limit:
                if until is not None and until < self._deadline:
                    return None
                raise RenderError("chromium did not answer before the timeout: " +
                                  self.log_tail())
            ready, _, _ = select.select([self._from_browser], [], [], limit - now)
            if not ready:
                continue
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RenderError("chromium exited: " + self.log_tail())
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_png(data):
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    offset, idat, header = 8, [], None
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        crc = struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])[0]
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ValueError(f"bad CRC in chunk {kind!r}")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        offset += 12 + length
    if header is None:
        raise ValueError("no IHDR")
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace != 0:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}")
    pixel = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * pixel
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for i in range(pixel, stride):
                line[i] = (line[i] + line[i - pixel]) & 0xFF
        elif kind == 2:
            for i in range(stride):
                line[i] = (line[i] + previous[i]) & 0xFF
        elif kind == 3:
            for i in range(stride):
                left = line[i - pixel] if i >= pixel else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                left = line[i - pixel] if i >= pixel else 0
                upper_left = previous[i - pixel] if i >= pixel else 0
                line[i] = (line[i] + paeth(left, previous[i], upper_left)) & 0xFF
        elif kind != 0:
            raise ValueError(f"bad filter {kind}")
        rows.append(bytes(line))
        previous = line
    return width, height, pixel, rows


def picture_facts(png):
    """Distinct colours and the share of pixels that are not (nearly) white."""
    width, height, pixel, rows = decode_png(png)
    colours, non_white = set(), 0
    for line in rows:
        for i in range(0, len(line), pixel):
            r, g, b = line[i], line[i + 1], line[i + 2]
            colours.add((r, g, b))
            if r < 240 or g < 240 or b < 240:
                non_white += 1
    total = max(1, width * height)
    return {
        "analysed_width": width,
        "analysed_height": height,
        "distinct_colours": len(colours),
        "non_white_fraction": non_white / total,
        "non_blank": len(colours) >= MIN_DISTINCT_COLOURS and
                     non_white / total >= MIN_NON_WHITE_FRACTION,
    }


def pdf_page_count(pdf):
    counts = [int(m) for m in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", pdf)]
    counts += [int(m) for m in re.findall(rb"/Count\s+(\d+)[^>]*?/Type\s*/Pages\b", pdf)]
    if counts:
        return max(counts)
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))


def render_page(browser, html_path, screenshot_path, pdf_path):
    """Opens one file in a new tab of `browser` and returns what it showed."""
    url = pathlib.Path(html_path).resolve().as_uri()
    started = time.monotonic()
    timings = {}
    lap = lambda name: timings.__setitem__(name, round(time.monotonic() - started, 2))
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget",
                           {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Network", "Runtime", "Log", "Page"):
        browser.send(domain + ".enable", session=session)
    browser.send("Emulation.setDeviceMetricsOverride",
                 {"width": VIEWPORT_WIDTH, "height": VIEWPORT_HEIGHT,
                  "deviceScaleFactor": 1, "mobile": False}, session=session)
    navigation = browser.send("Page.navigate", {"url": url}, session=session)
    problems = []
    if navigation.get("errorText"):
        problems.append("navigation: " + navigation["errorText"])
    loaded = browser.wait_for_event("Page.loadEventFired", session, browser.seconds_left() - 5)
    if not loaded:
        problems.append("no load event before the timeout")
    browser.drain(0.3)  # messages logged just after the load event
    lap("loaded")

    def evaluate(expression):
        reply = browser.send("Runtime.evaluate",
                             {"expression": expression, "returnByValue": True},
                             session=session)
        if "exceptionDetails" in reply:
            raise RenderError("evaluating the page: " + json.dumps(reply["exceptionDetails"]))
        return reply["result"].get("value")

    facts = evaluate(PAGE_FACTS_SCRIPT)
    elements = evaluate(ELEMENTS_SCRIPT)
    lap("dom")

    metrics = browser.send("Page.getLayoutMetrics", session=session)
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    width = max(1, int(size["width"]))
    height = max(1, int(size["height"]))
    full = browser.send("Page.captureScreenshot",
                        {"format": "png", "captureBeyondViewport": True,
                         "clip": {"x": 0, "y": 0, "width": width, "height": height,
                                  "scale": 1}}, session=session)
    png = base64.b64decode(full["data"])
    lap("screenshot")
    with open(screenshot_path, "wb") as out:
        out.write(png)
    scale = min(1.0, (ANALYSIS_MAX_PIXELS / (width * height)) ** 0.5)
    reduced = browser.send("Page.captureScreenshot",
                           {"format": "png", "captureBeyondViewport": True,
                            "clip": {"x": 0, "y": 0, "width": width, "height": height,
                                     "scale": scale}}, session=session)
    screenshot = {"path": screenshot_path, "width": width, "height": height, "bytes": len(png)}
    screenshot.update(picture_facts(base64.b64decode(reduced["data"])))
    lap("non_blank")

    # Background graphics off, as a print dialog has them by default: the page's own print
    # rules (print-color-adjust) decide what still prints.
    printed = browser.send("Page.printToPDF",
                           {"paperWidth": A4_WIDTH_IN, "paperHeight": A4_HEIGHT_IN,
                            "printBackground": False}, session=session)
    pdf = base64.b64decode(printed["data"])
    if pdf_path:
        with open(pdf_path, "wb") as out:
            out.write(pdf)
    lap("pdf")
    browser.drain(0.1)
    browser.send("Target.closeTarget", {"targetId": target})

    requests, data_urls, console, exceptions, log = [], [], [], [], []
    for event in browser.events:
        if event.get("sessionId") != session:
            continue
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            request = params.get("request", {})
            if request.get("url", "").startswith("data:"):
                data_urls.append(request["url"][:200])
            elif request.get("url") != url:
                requests.append({"url": request.get("url"), "method": request.get("method"),
                                 "type": params.get("type")})
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", "")))
                            for a in params.get("args", []))
            console.append({"type": params.get("type"), "text": text})
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exceptions.append(details.get("exception", {}).get("description") or
                              details.get("text", ""))
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") in ("error", "warning"):
                log.append({"level": entry.get("level"), "source": entry.get("source"),
                            "text": entry.get("text"), "url": entry.get("url")})

    return {
        "url": url,
        "loaded": loaded,
        "problems": problems,
        "requests": requests,
        "data_urls": data_urls,
        "console": console,
        "exceptions": exceptions,
        "log": log,
        "screenshot": screenshot,
        "pdf": {"pages": pdf_page_count(pdf), "bytes": len(pdf), "paper": "A4"},
        "title": facts["title"],
        "text": facts["text"],
        "metadata_text": facts["metadata_text"],
        "first_section_id": facts["first_section_id"],
        "csp": facts["csp"],
        "scripts": facts["scripts"],
        "tables": facts["tables"],
        "charts": facts["charts"],
        "charts_with_text_alternative": facts["charts_with_text_alternative"],
        "chart_labels": facts["chart_labels"],
        "tick_labels": facts["tick_labels"],
        "chart_texts": facts["chart_texts"],
        "elements": elements,
        "seconds": timings,
    }


def render(pages, timeout, tmp):
    """Renders each (html, screenshot, pdf) in one chromium, a tab each, within `timeout` s."""
    browser = Browser(time.monotonic() + timeout, tmp)
    try:
        browser.send("Browser.getVersion")
        return [render_page(browser, *page) for page in pages]
    finally:
        browser.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", nargs="+")
    parser.add_argument("--screenshot", help="default: NAME.png next to NAME.html")
    parser.add_argument("--pdf", help="default: NAME.pdf next to NAME.html")
    parser.add_argument("--out")
    # Generous: it bounds a hung chromium only; a loaded 2-core machine renders the Almelo
    # report in a few seconds (docs/design.md).
    parser.add_argument("--timeout", type=float, default=120, help="seconds per file")
    parser.add_argument("--tmp", help="where chromium's profile goes (default: the first "
                        "file's directory)")
    options = parser.parse_args()
    if len(options.html) > 1 and (options.screenshot or options.pdf):
        parser.error("--screenshot and --pdf name one file's; with several, each goes next to it")
    pages = []
    for html in options.html:
        if not os.path.isfile(html):
            print(f"render_check: no file {html}", file=sys.stderr)
            return 2
        base = os.path.splitext(html)[0]
        pages.append((html, options.screenshot or base + ".png", options.pdf or base + ".pdf"))
    # A test runner's SIGTERM still kills chromium (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    try:
        tmp = options.tmp or os.path.dirname(os.path.abspath(options.html[0]))
        results = render(pages, options.timeout * len(pages), tmp)
    except RenderError as error:
        print(f"render_check: {error}", file=sys.stderr)
        return 1
    text = json.dumps(results[0] if len(results) == 1 else results, ensure_ascii=False,
                      indent=1)
    if options.out:
        with open(options.out, "w", encoding="utf-8") as out:
            out.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
