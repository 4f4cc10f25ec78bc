#!/usr/bin/env python3
"""Ask for a range with If-Range through Python requests and report what happened.

Usage: range_client.py URL

1. A plain GET: the whole body and its ETag.
2. Range: bytes=100-199 with If-Range: <that ETag>: the range (206).
3. The same range with If-Range: "an-old-tag": the whole, current body (200).

Prints one JSON document on stdout; the caller decides what to assert.
"""

import json
import sys

import requests


def summary(response, whole=None):
    return {
        "status": response.status_code,
        "content_range": response.headers.get("Content-Range"),
        "etag": response.headers.get("ETag"),
        "accept_ranges": response.headers.get("Accept-Ranges"),
        "length": len(response.content),
        # Whether the body is the slice of the whole it claims to be.
        "is_slice": whole is not None and response.content == whole[100:200],
        "is_whole": whole is not None and response.content == whole,
    }


def main():
    url = sys.argv[1]
    with requests.Session() as session:
        first = session.get(url, timeout=30)
        whole = first.content
        etag = first.headers["ETag"]
        current = session.get(
            url, headers={"Range": "bytes=100-199", "If-Range": etag}, timeout=30
        )
        stale = session.get(
            url,
            headers={"Range": "bytes=100-199", "If-Range": '"an-old-tag"'},
            timeout=30,
        )
    print(
        json.dumps(
            {
                "requests": requests.__version__,
                "first": summary(first, whole),
                "current": summary(current, whole),
                "stale": summary(stale, whole),
            }
        )
    )


if __name__ == "__main__":
    main()
