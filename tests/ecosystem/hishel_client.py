#!/usr/bin/env python3
"""Fetch URLs twice through hishel's RFC 9111 cache (httpx) and report what happened.

Usage: hishel_client.py BASE_URL PATH [PATH...]

For each path: two GETs through one hishel-cached httpx client. A recording
transport sits *below* the cache, so it sees exactly what goes to the server
(the conditional headers hishel adds, the status the server answers). Prints
one JSON document on stdout; the caller decides what to assert.
"""

import json
import sys
import tempfile
from importlib.metadata import version

import hishel
import httpx
from hishel.httpx import CacheTransport


class Recording(httpx.BaseTransport):
    """Passes requests on and writes down what crossed the network."""

    def __init__(self, inner):
        self.inner = inner
        self.sent = []

    def handle_request(self, request):
        response = self.inner.handle_request(request)
        self.sent.append(
            {
                "path": request.url.path,
                "if_none_match": request.headers.get("if-none-match"),
                "if_modified_since": request.headers.get("if-modified-since"),
                "status": response.status_code,
            }
        )
        return response

    def close(self):
        self.inner.close()


def main():
    base, paths = sys.argv[1].rstrip("/"), sys.argv[2:]
    report = {"hishel": version("hishel"), "httpx": version("httpx"), "paths": {}}
    with tempfile.TemporaryDirectory(prefix="tower-conditional-hishel-") as directory:
        wire = Recording(httpx.HTTPTransport())
        storage = hishel.SqliteStorage(database_path=f"{directory}/cache.db")
        # rfc=True: follow the response's Cache-Control (RFC 9111), as a
        # browser's private cache does, instead of hishel's default of
        # storing everything for a fixed time.
        cache = CacheTransport(next_transport=wire, storage=storage, rfc=hishel.CacheOptions(shared=False))
        with httpx.Client(transport=cache, timeout=10.0) as client:
            for path in paths:
                fetches = []
                for _ in range(2):
                    before = len(wire.sent)
                    response = client.get(base + path)
                    body = response.read().decode()
                    caching = response.extensions.get("caching", {})
                    fetches.append(
                        {
                            "status": response.status_code,
                            "etag": response.headers.get("etag"),
                            "body": body,
                            "from_cache": caching.get("from_cache"),
                            "revalidated": caching.get("revalidated"),
                            "stored": caching.get("stored"),
                            "wire": wire.sent[before:],
                        }
                    )
                report["paths"][path] = fetches
    json.dump(report, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
