#!/usr/bin/env python3
"""Open a page with a media element in headless Chromium and report how it seeked.

Usage: media.py URL [--chromium PATH] [--timeout SECONDS] [--disable-cache]

The page (served by the test) seeks its element once the metadata is in and
sets `window.mediaReport` when the seek is over (`seeked`) or failed
(`error`); `window.mediaEvents` lists a snapshot of the element at each media
event. This script drives Chromium as browser.py does (DevTools protocol on a
pipe, standard library only), waits for the report, and prints one JSON
document on stdout:

  {"chromium": "...", "report": {...}, "events": [...], "requests": [...]}

Each request lists the URL, the Range and If-Range headers Chromium actually
sent (requestWillBeSentExtraInfo), the status line and Content-Range that
came over the network (responseReceivedExtraInfo), and how it ended. The
caller decides what to assert; the server's own record is the authority.

--disable-cache turns Chromium's HTTP cache off for the page
(Network.setCacheDisabled), so that every read the media element makes goes
to the server as the media loader asked for it.
"""

import argparse
import json
import sys
import time

from browser import Browser, evaluate, open_page_session, path_of


def gather(browser, session, requests, wait):
    """Files the network events that arrive within `wait` seconds."""

    def entry(request_id):
        return requests.setdefault(request_id, {"request_id": request_id})

    event = browser.next_event(wait)
    while event:
        if event.get("sessionId") == session:
            method, params = event["method"], event.get("params", {})
            if method == "Network.requestWillBeSent":
                r = entry(params["requestId"])
                r["url"] = params["request"]["url"]
                r["path"] = path_of(r["url"])
                r["sent_at"] = params.get("timestamp")
            elif method == "Network.requestWillBeSentExtraInfo":
                headers = {k.lower(): v for k, v in params.get("headers", {}).items()}
                r = entry(params["requestId"])
                r["range"] = headers.get("range")
                r["if_range"] = headers.get("if-range")
                r["if_none_match"] = headers.get("if-none-match")
            elif method == "Network.responseReceivedExtraInfo":
                headers = {k.lower(): v for k, v in params.get("headers", {}).items()}
                r = entry(params["requestId"])
                r["wire_status"] = params.get("statusCode")
                r["content_range"] = headers.get("content-range")
            elif method == "Network.responseReceived":
                r = entry(params["requestId"])
                r["status"] = params["response"]["status"]
                r["from_disk_cache"] = params["response"].get("fromDiskCache", False)
            elif method == "Network.loadingFinished":
                r = entry(params["requestId"])
                r["finished"] = True
                r["encoded_length"] = params.get("encodedDataLength")
            elif method == "Network.loadingFailed":
                r = entry(params["requestId"])
                r["failed"] = params.get("errorText")
                r["canceled"] = params.get("canceled", False)
        # Whatever else is already queued, without waiting for more.
        event = browser.next_event(0.001)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--timeout", type=float, default=45.0)
    parser.add_argument("--disable-cache", action="store_true")
    options = parser.parse_args()

    browser = Browser(options.chromium, time.monotonic() + options.timeout)
    try:
        version = browser.send("Browser.getVersion")["product"]
        session = open_page_session(browser, "Network", "Runtime")
        if options.disable_cache:
            browser.send("Network.setCacheDisabled", {"cacheDisabled": True}, session)
        browser.send("Page.navigate", {"url": options.url}, session)
        requests = {}
        report = None
        while report is None:
            gather(browser, session, requests, 0.2)
            report = evaluate(browser, session, "window.mediaReport || null")
        # A moment for the requests the seek started to report their
        # response heads (their bodies may stay unread: the element is paused).
        settle = time.monotonic() + 1.0
        while time.monotonic() < settle:
            gather(browser, session, requests, 0.2)
        events = evaluate(browser, session, "window.mediaEvents || []")
        listed = sorted(
            (r for r in requests.values() if "url" in r),
            key=lambda r: r.get("sent_at") or 0,
        )
        json.dump(
            {"chromium": version, "report": report, "events": events, "requests": listed},
            sys.stdout,
            indent=1,
        )
        sys.stdout.write("\n")
    finally:
        browser.close()


if __name__ == "__main__":
    main()
