//! What the two peer servers share: their settings from the environment and
//! the JSON documents, read from the files `perf/scripts/load.sh` saves from
//! `load_target`, so that every server sends exactly the same bytes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// The 1 KiB and 1 MiB documents of `perf/src/bin/load_target.rs`.
#[derive(Clone)]
pub struct Documents {
    pub one_k: Bytes,
    pub one_m: Bytes,
}

/// `MIDDLEWARE=on|off` (default on), `ADDR` (default 127.0.0.1:3000) and
/// `PAYLOADS`, the directory holding `1k.json` and `1m.json`.
pub struct Settings {
    pub middleware: bool,
    pub addr: SocketAddr,
    pub documents: Documents,
}

pub fn settings() -> Settings {
    let middleware = match std::env::var("MIDDLEWARE").as_deref() {
        Ok("on") | Err(_) => true,
        Ok("off") => false,
        Ok(other) => panic!("MIDDLEWARE must be on or off, not {other:?}"),
    };
    let addr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".to_owned())
        .parse()
        .expect("ADDR must be an address like 127.0.0.1:3000");
    let dir = PathBuf::from(
        std::env::var("PAYLOADS").expect("PAYLOADS: the directory of 1k.json and 1m.json"),
    );
    let read = |name: &str| {
        let path = dir.join(name);
        Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
    };
    let documents = Documents {
        one_k: read("1k.json"),
        one_m: read("1m.json"),
    };
    assert_eq!(documents.one_k.len(), 1024, "1k.json is 1 KiB");
    assert_eq!(documents.one_m.len(), 1024 * 1024, "1m.json is 1 MiB");
    Settings {
        middleware,
        addr,
        documents,
    }
}

static CHANGED: AtomicU64 = AtomicU64::new(0);

/// The body of `/changing`: another number on every request, a resource that
/// changes between a client's GET and its revalidation.
pub fn changing() -> String {
    format!("{}\n", CHANGED.fetch_add(1, Ordering::Relaxed))
}

/// `Cache-Control` of `/cached/1k`, which a 304 must repeat (RFC 9110 §15.4.5).
pub const CACHE_CONTROL: &str = "max-age=60";
