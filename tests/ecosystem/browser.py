#!/usr/bin/env python3
"""Load a page in headless Chromium, reload it, and report what went over the wire.

Usage: browser.py URL [--chromium PATH] [--timeout SECONDS] [--interact] [--screenshot PNG]

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
the browser reads commands on fd 3 and writes replies and events on fd 4, each
message a JSON text followed by a NUL byte), so nothing but the standard library
is needed. Prints one JSON document on stdout:

  {"chromium": "...", "phases": [{"name": "load", "requests": [...], ...},
                                 {"name": "reload", ...}]}

Each request lists the URL, the status the page saw, the status line that
actually came over the network (responseReceivedExtraInfo), the If-None-Match
header Chromium actually sent (requestWillBeSentExtraInfo), and whether the
answer came from the disk cache. Each phase also has "figures": the totals
the demo page shows in its live table, read from the DOM once they stopped
changing. With --interact, a third phase presses the page's buttons (a
revalidation with If-None-Match, a write with the current tag, one with a
stale tag) and reports what the page then shows; --screenshot saves a PNG of
the page at the end. The caller decides what to assert.
"""

import argparse
import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time

# Resources the demo page fetches; a phase is over when both have finished.
WATCHED = ("/app.css", "/data.json")


class Browser:
    def __init__(self, chromium, deadline):
        self.deadline = deadline
        self.profile = tempfile.mkdtemp(prefix="tower-conditional-chromium-")
        to_browser_r, self._to_browser_w = os.pipe()
        self._from_browser_r, from_browser_w = os.pipe()

        def wire_fds():
            # In the child: put the pipe ends on fd 3 and 4. Dup them above 10
            # first so that dup2 never meets an fd that is already 3 or 4.
            high_in = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            high_out = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        args = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-dev-shm-usage",
            "--user-data-dir=" + self.profile,
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.profile, "chromium.log"), "wb"),
            close_fds=False,  # our other fds are non-inheritable anyway (PEP 446)
            preexec_fn=wire_fds,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)

        self.next_id = 0
        self.replies = {}
        self.events = queue.Queue()
        self.lock = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        pending = b""
        while True:
            try:
                chunk = os.read(self._from_browser_r, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.events.put(None)  # the browser went away
                with self.lock:
                    self.lock.notify_all()
                return
            pending += chunk
            while b"\0" in pending:
                raw, pending = pending.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    with self.lock:
                        self.replies[message["id"]] = message
                        self.lock.notify_all()
                else:
                    self.events.put(message)

    def remaining(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("browser script ran out of time")
        return left

    def send(self, method, params=None, session=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_browser_w, json.dumps(message).encode() + b"\0")
        with self.lock:
            while self.next_id not in self.replies:
                if self.process.poll() is not None:
                    raise RuntimeError("chromium exited with %s" % self.process.returncode)
                self.lock.wait(timeout=min(self.remaining(), 0.5))
            reply = self.replies.pop(self.next_id)
        if "error" in reply:
            raise RuntimeError("%s failed: %s" % (method, reply["error"]))
        return reply.get("result", {})

    def next_event(self, wait):
        try:
            event = self.events.get(timeout=min(wait, self.remaining()))
        except queue.Empty:
            return False
        if event is None:
            raise RuntimeError("chromium closed the DevTools pipe")
        return event

    def close(self):
        try:
            if self.process.poll() is None:
                try:
                    self.send("Browser.close")
                except Exception:
                    pass
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=5)
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


def path_of(url):
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"


def run_phase(browser, session, name, start):
    """Send the navigation command `start` and gather the network events it causes."""
    requests = {}

    def entry(request_id):
        return requests.setdefault(request_id, {"request_id": request_id})

    start()
    loaded = False
    while True:
        finished = {
            r.get("path")
            for r in requests.values()
            if r.get("finished") and r.get("path") in WATCHED
        }
        if loaded and finished >= set(WATCHED):
            break
        event = browser.next_event(0.5)
        if event is False or event.get("sessionId") != session:
            continue
        method, params = event["method"], event.get("params", {})
        if method == "Page.loadEventFired":
            loaded = True
        elif method == "Network.requestWillBeSent":
            r = entry(params["requestId"])
            r["url"] = params["request"]["url"]
            r["path"] = path_of(r["url"])
        elif method == "Network.requestWillBeSentExtraInfo":
            headers = {k.lower(): v for k, v in params.get("headers", {}).items()}
            r = entry(params["requestId"])
            r["if_none_match"] = headers.get("if-none-match")
            r["if_modified_since"] = headers.get("if-modified-since")
            r["sent_cache_control"] = headers.get("cache-control")
        elif method == "Network.responseReceived":
            response = params["response"]
            r = entry(params["requestId"])
            r["status"] = response["status"]
            r["from_disk_cache"] = response.get("fromDiskCache", False)
            r["etag"] = {k.lower(): v for k, v in response.get("headers", {}).items()}.get("etag")
        elif method == "Network.responseReceivedExtraInfo":
            r = entry(params["requestId"])
            r["wire_status"] = params.get("statusCode")
        elif method == "Network.loadingFinished":
            entry(params["requestId"])["finished"] = True
        elif method == "Network.loadingFailed":
            r = entry(params["requestId"])
            r["failed"] = params.get("errorText")

    # Let the page's script put the JSON into the page (fetch → r.json()).
    data_text = None
    while True:
        result = browser.send(
            "Runtime.evaluate",
            {"expression": "document.getElementById('data').textContent", "returnByValue": True},
            session,
        )
        data_text = result.get("result", {}).get("value")
        if data_text and not data_text.startswith("loading"):
            break
        time.sleep(0.1)
        browser.remaining()
    figures = settled_figures(browser, session)
    max_width = browser.send(
        "Runtime.evaluate",
        {"expression": "getComputedStyle(document.body).maxWidth", "returnByValue": True},
        session,
    )["result"].get("value")
    listed = sorted(
        (r for r in requests.values() if "url" in r),
        key=lambda r: r["url"],
    )
    return {
        "name": name,
        "requests": listed,
        "data_text": data_text,
        "body_max_width": max_width,
        "figures": figures,
    }


# The page's live totals and results, as the visitor sees them (text).
FIGURES = """JSON.stringify({
  seq: document.body.dataset.seq || null,
  ok: document.getElementById('total-200').textContent,
  not_modified: document.getElementById('total-304').textContent,
  failed: document.getElementById('total-412').textContent,
  sent: document.getElementById('total-sent').textContent,
  saved: document.getElementById('total-saved').textContent,
  revalidate: document.getElementById('revalidate-result').textContent,
  write: document.getElementById('write-result').textContent,
  stale_enabled: !document.getElementById('write-stale').disabled,
  recent_rows: document.querySelectorAll('#recent tbody tr').length,
})"""


def open_page_session(browser, *domains):
    """A new tab, attached; the given domains (Network, Runtime, ...) enabled."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in domains:
        browser.send(domain + ".enable", session=session)
    return session


def evaluate(browser, session, expression):
    result = browser.send(
        "Runtime.evaluate",
        {"expression": expression, "returnByValue": True, "awaitPromise": True},
        session,
    )
    if "exceptionDetails" in result:
        raise RuntimeError("%s threw: %s" % (expression, result["exceptionDetails"]))
    return result.get("result", {}).get("value")


def settled_figures(browser, session):
    """The page's figures once the live feed delivered and nothing changed for a while."""
    last, since = None, time.monotonic()
    while True:
        figures = json.loads(evaluate(browser, session, FIGURES))
        if figures != last:
            last, since = figures, time.monotonic()
        elif figures["seq"] is not None and time.monotonic() - since >= 1.0:
            return figures
        time.sleep(0.2)
        browser.remaining()


def wait_for(browser, session, expression):
    while not evaluate(browser, session, expression):
        time.sleep(0.1)
        browser.remaining()


def interact(browser, session):
    """Presses the page's buttons, as a visitor would, and waits for each answer."""
    evaluate(browser, session, "document.getElementById('revalidate').click()")
    wait_for(browser, session, "!!document.getElementById('revalidate-result').dataset.status")
    evaluate(browser, session, "document.getElementById('write-current').click()")
    wait_for(browser, session, "!document.getElementById('write-stale').disabled")
    current = evaluate(browser, session, "document.getElementById('write-result').textContent")
    evaluate(browser, session, "document.getElementById('write-stale').click()")
    wait_for(browser, session, "document.getElementById('write-result').dataset.status === '412'")
    figures = settled_figures(browser, session)
    return {"name": "interact", "write_current": current, "figures": figures}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--interact", action="store_true")
    parser.add_argument("--screenshot")
    options = parser.parse_args()

    browser = Browser(options.chromium, time.monotonic() + options.timeout)
    try:
        version = browser.send("Browser.getVersion")["product"]
        session = open_page_session(browser, "Page", "Network", "Runtime")
        if options.screenshot:
            # Wide enough for the page's tables, as on a laptop.
            browser.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1100, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                session,
            )
        phases = [
            run_phase(browser, session, "load",
                      lambda: browser.send("Page.navigate", {"url": options.url}, session)),
            # An ordinary reload, as the browser's reload button does (not a
            # hard reload: ignoreCache stays false).
            run_phase(browser, session, "reload",
                      lambda: browser.send("Page.reload", {"ignoreCache": False}, session)),
        ]
        if options.interact:
            phases.append(interact(browser, session))
        if options.screenshot:
            shot = browser.send(
                "Page.captureScreenshot",
                {"format": "png", "captureBeyondViewport": True},
                session,
            )
            with open(options.screenshot, "wb") as out:
                out.write(base64.b64decode(shot["data"]))
        json.dump({"chromium": version, "phases": phases}, sys.stdout, indent=1)
        sys.stdout.write("\n")
    finally:
        browser.close()


if __name__ == "__main__":
    main()
