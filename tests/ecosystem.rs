//! End-to-end checks on real loopback sockets against software this project
//! did not write: curl, headless Chromium, nginx as a caching reverse proxy
//! in front of two replicas, Python's hishel cache, range requests from
//! curl, Python's requests and a seeking `<audio>` element in Chromium, and
//! PostgreSQL behind two replicas of `examples/optimistic-concurrency/`.
//!
//! Most tests spawn the demo (`examples/demo/`, built here with `cargo build
//! -p example-demo`); the `<audio>` ones serve a WAV generated in this file
//! from an axum router in the test. They talk to the server through a
//! *tap*: a transparent TCP relay in this file that records the bytes of
//! each connection both ways, so the assertions rest on what the server
//! actually received and answered, not only on what a client reports.
//!
//! The tests are ignored by default, because they need tools a fresh machine
//! lacks. To run them:
//!
//! ```text
//! tests/ecosystem/install.sh
//! cargo test --test ecosystem -- --ignored
//! ```
//!
//! Once run, a missing tool is a failure, never a skip.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The body of `/data.json` in the demo, byte for byte.
const DATA_JSON: &str =
    r#"{"items":[{"id":1,"name":"apples","stock":12},{"id":2,"name":"pears","stock":7}]}"#;

const INSTALL_HINT: &str = "install everything with tests/ecosystem/install.sh";

// ---------------------------------------------------------------------------
// curl
// ---------------------------------------------------------------------------

/// `curl --etag-save` then `curl --etag-compare`: the second transfer is a
/// `304` with no body. `curl -z` (If-Modified-Since) against the handler's
/// `Last-Modified` gets a `304` as well.
#[test]
#[ignore = "needs curl/chromium/nginx/python: run by .ci/run"]
fn curl_etag_save_then_compare_gets_304_without_body() {
    let curl = tool("curl");
    let mut processes = Processes::default();
    let demo = start_demo(&mut processes, "demo");
    let tap = Tap::start(demo);
    let dir = TempDir::new("curl");
    let url = format!("http://{}/data.json", tap.addr());
    let etag_file = dir.path().join("etag.txt");
    let write_out = "%{http_code} %{size_download}";

    let first = run(
        "curl --etag-save",
        Command::new(&curl)
            .args(["--silent", "--show-error", "--etag-save"])
            .arg(&etag_file)
            .arg("--output")
            .arg(dir.path().join("first.body"))
            .args(["--write-out", write_out, &url]),
        Duration::from_secs(30),
    );
    assert_eq!(first.stdout.trim(), format!("200 {}", DATA_JSON.len()));
    assert_eq!(read_to_string(&dir.path().join("first.body")), DATA_JSON);
    let saved = read_to_string(&etag_file).trim().to_owned();
    assert!(
        saved.len() > 2 && saved.starts_with('"') && saved.ends_with('"'),
        "curl saved {saved:?}, not a strong entity tag"
    );

    let second = run(
        "curl --etag-compare",
        Command::new(&curl)
            .args(["--silent", "--show-error", "--etag-compare"])
            .arg(&etag_file)
            .arg("--dump-header")
            .arg(dir.path().join("second.headers"))
            .arg("--output")
            .arg(dir.path().join("second.body"))
            .args(["--write-out", write_out, &url]),
        Duration::from_secs(30),
    );
    assert_eq!(
        second.stdout.trim(),
        "304 0",
        "curl's http_code and size_download"
    );
    let second_body = fs::read(dir.path().join("second.body")).unwrap_or_default();
    assert!(
        second_body.is_empty(),
        "a 304 carried a body: {second_body:?}"
    );
    let head = parse_head(&read_to_string(&dir.path().join("second.headers")));
    assert_eq!(head.status(), 304);
    assert_eq!(
        head.header("etag"),
        Some(saved.as_str()),
        "the 304 names the tag"
    );
    assert_eq!(head.header("cache-control"), Some("no-cache"));

    // If-Modified-Since, from the date the handler set as Last-Modified.
    let report = format!("http://{}/report", tap.addr());
    let modified = run(
        "curl -z",
        Command::new(&curl)
            .args(["--silent", "--show-error", "--output", "/dev/null"])
            .args(["--time-cond", "Thu, 01 Jan 2026 00:00:00 GMT"])
            .args(["--write-out", write_out, &report]),
        Duration::from_secs(30),
    );
    assert_eq!(modified.stdout.trim(), "304 0");

    // The server's side of it, from the tap.
    let seen = tap.exchanges();
    let data: Vec<_> = seen.iter().filter(|e| e.path == "/data.json").collect();
    assert_eq!(data.len(), 2, "{seen:#?}");
    assert_eq!(data[0].request_header("if-none-match"), None);
    assert_eq!(
        (data[0].status, data[0].body_len),
        (Some(200), DATA_JSON.len())
    );
    assert_eq!(
        data[1].request_header("if-none-match"),
        Some(saved.as_str())
    );
    assert_eq!((data[1].status, data[1].body_len), (Some(304), 0));
    let report: Vec<_> = seen.iter().filter(|e| e.path == "/report").collect();
    assert_eq!(report.len(), 1, "{seen:#?}");
    assert_eq!(
        report[0].request_header("if-modified-since"),
        Some("Thu, 01 Jan 2026 00:00:00 GMT")
    );
    assert_eq!((report[0].status, report[0].body_len), (Some(304), 0));
    tap.print("curl");
}

// ---------------------------------------------------------------------------
// Chromium
// ---------------------------------------------------------------------------

/// Headless Chromium loads the demo page, then reloads it as the reload
/// button does: the page, `/app.css` and `/data.json` are revalidated with
/// the `ETag`s of the first load and the server answers `304`; the page
/// still shows the JSON and the stylesheet, now from the browser's cache.
#[test]
#[ignore = "needs curl/chromium/nginx/python: run by .ci/run"]
fn chromium_reload_revalidates_subresources_with_304() {
    let chromium = chromium();
    let python = python();
    let mut processes = Processes::default();
    let demo = start_demo(&mut processes, "demo");
    let tap = Tap::start(demo);

    let output = run(
        "tests/ecosystem/browser.py",
        Command::new(&python)
            .arg(ecosystem_dir().join("browser.py"))
            .arg(format!("http://{}/", tap.addr()))
            .arg("--chromium")
            .arg(&chromium)
            .args(["--timeout", "90"]),
        Duration::from_secs(120),
    );
    let report: Value = serde_json::from_str(&output.stdout)
        .unwrap_or_else(|error| panic!("browser.py printed no JSON ({error}):\n{output:?}"));
    eprintln!("chromium: {}", report["chromium"]);
    let phases = report["phases"].as_array().expect("phases");
    assert_eq!(phases.len(), 2);
    let (load, reload) = (&phases[0], &phases[1]);
    for phase in phases {
        eprintln!("{}:", phase["name"]);
        for request in phase["requests"].as_array().expect("requests") {
            eprintln!(
                "  {:<12} page saw {:<4} wire {:<4} If-None-Match {}",
                request["path"].as_str().unwrap_or("?"),
                request["status"],
                request["wire_status"],
                request["if_none_match"]
            );
        }
    }

    for path in ["/", "/app.css", "/data.json"] {
        let first = browser_request(load, path);
        assert_eq!(first["wire_status"], 200, "first load of {path}: {first}");
        assert!(first["if_none_match"].is_null(), "{first}");
        let etag = first["etag"].as_str().expect("an ETag on the first load");

        let again = browser_request(reload, path);
        assert_eq!(again["wire_status"], 304, "reload of {path}: {again}");
        assert_eq!(again["if_none_match"], etag, "reload of {path}: {again}");
        assert_eq!(again["from_disk_cache"], false, "{again}");
    }
    // The page still works, from the copies the 304s confirmed.
    for phase in [load, reload] {
        let text = phase["data_text"].as_str().expect("data_text");
        let shown: Value = serde_json::from_str(text).expect("the page shows JSON");
        let served: Value = serde_json::from_str(DATA_JSON).unwrap();
        assert_eq!(shown, served, "{} shows the data", phase["name"]);
        assert_eq!(phase["body_max_width"], "960px", "app.css applied");
    }

    // The server's side: one body each, then a conditional GET and a 304.
    let seen = tap.exchanges();
    for path in ["/app.css", "/data.json"] {
        let exchanges: Vec<_> = seen.iter().filter(|e| e.path == path).collect();
        assert_eq!(exchanges.len(), 2, "{path}: {exchanges:#?}");
        assert_eq!(exchanges[0].status, Some(200));
        assert!(exchanges[0].body_len > 0);
        let etag = exchanges[0].response_header("etag").expect("etag");
        assert_eq!(exchanges[1].request_header("if-none-match"), Some(etag));
        assert_eq!((exchanges[1].status, exchanges[1].body_len), (Some(304), 0));
    }
    // The event stream went through untouched: no ETag, never held back.
    let events: Vec<_> = seen.iter().filter(|e| e.path == "/events").collect();
    assert!(!events.is_empty(), "{seen:#?}");
    for exchange in events {
        assert_eq!(exchange.status, Some(200));
        assert_eq!(
            exchange.response_header("content-type"),
            Some("text/event-stream")
        );
        assert_eq!(exchange.response_header("etag"), None);
    }
    tap.print("chromium");
}

/// The demo page counts what it shows: after a reload its table has more
/// `304`s, and the bytes saved it shows are the lengths of the bodies those
/// `304`s replaced, summed here from what the tap saw go over the wire (the
/// `200` that carried each tag), not from anything the page or the server
/// computed. The page's buttons make a `304` of their own, a write with the
/// current tag (`200`) and one with a stale tag (`412`). Leaves a screenshot.
#[test]
#[ignore = "needs curl/chromium/nginx/python: run by .ci/run"]
fn chromium_demo_page_shows_304s_and_bytes_saved() {
    let chromium = chromium();
    let python = python();
    let mut processes = Processes::default();
    let demo = start_demo(&mut processes, "demo");
    let tap = Tap::start(demo);
    let shots = screenshot_dir();
    let screenshot = shots.join("demo.png");
    let _ = fs::remove_file(&screenshot);

    let output = run(
        "tests/ecosystem/browser.py --interact",
        Command::new(&python)
            .arg(ecosystem_dir().join("browser.py"))
            .arg(format!("http://{}/", tap.addr()))
            .arg("--chromium")
            .arg(&chromium)
            .args(["--timeout", "50", "--interact", "--screenshot"])
            .arg(&screenshot),
        Duration::from_secs(60),
    );
    let report: Value = serde_json::from_str(&output.stdout)
        .unwrap_or_else(|error| panic!("browser.py printed no JSON ({error}):\n{output:?}"));
    let phases = report["phases"].as_array().expect("phases");
    assert_eq!(phases.len(), 3, "load, reload, interact");
    let figure = |phase: &Value, name: &str| -> u64 {
        let text = phase["figures"][name].as_str().unwrap_or_default();
        text.parse()
            .unwrap_or_else(|_| panic!("{} {name} shows {text:?}", phase["name"]))
    };
    for phase in phases {
        eprintln!("{}: page shows {}", phase["name"], phase["figures"]);
    }
    let (load, reload, interact) = (&phases[0], &phases[1], &phases[2]);

    // A first visit has nothing to revalidate; the reload revalidates the
    // page, its stylesheet and its JSON.
    assert_eq!(figure(load, "not_modified"), 0);
    assert_eq!(figure(load, "saved"), 0);
    assert!(
        figure(reload, "not_modified") >= 3,
        "reload: {}",
        reload["figures"]
    );

    let seen = tap.exchanges();
    let counted: Vec<_> = seen.iter().filter(|e| e.path != "/live").collect();
    let not_modified: Vec<_> = counted.iter().filter(|e| e.status == Some(304)).collect();
    // What each 304 spared: the body of the 200 that issued its tag.
    let replaced = |e: &Exchange| -> usize {
        let tag = e.response_header("etag").expect("a 304 names its tag");
        counted
            .iter()
            .find(|full| {
                full.path == e.path
                    && full.status == Some(200)
                    && full.response_header("etag") == Some(tag)
            })
            .unwrap_or_else(|| panic!("no 200 with {tag} for {}: {seen:#?}", e.path))
            .body_len
    };
    let saved_on_wire: usize = not_modified.iter().map(|e| replaced(e)).sum();
    assert_eq!(
        figure(interact, "not_modified"),
        not_modified.len() as u64,
        "304s on the wire: {not_modified:#?}"
    );
    assert_eq!(
        figure(interact, "saved"),
        saved_on_wire as u64,
        "bytes saved shown against the bodies the 304s replaced: {not_modified:#?}"
    );
    assert!(figure(interact, "saved") > figure(reload, "saved"));
    let ok = counted.iter().filter(|e| e.status == Some(200)).count();
    assert_eq!(figure(interact, "ok"), ok as u64);

    // The revalidate button: a 304 the page saw itself, and what it saved.
    let revalidate = interact["figures"]["revalidate"]
        .as_str()
        .unwrap_or_default();
    assert!(
        revalidate.starts_with("304 Not Modified")
            && revalidate.ends_with(&format!("bytes saved: {}", DATA_JSON.len())),
        "{revalidate:?}"
    );
    // The writes: the current tag wins, the stale one is refused.
    let current = interact["write_current"].as_str().unwrap_or_default();
    assert!(current.contains("→ 200 OK"), "{current:?}");
    let stale = interact["figures"]["write"].as_str().unwrap_or_default();
    assert!(stale.contains("→ 412 Precondition Failed"), "{stale:?}");
    assert_eq!(figure(interact, "failed"), 1);
    let puts: Vec<_> = seen.iter().filter(|e| e.method == "PUT").collect();
    assert_eq!(puts.len(), 2, "{puts:#?}");
    assert_eq!(puts[0].status, Some(200));
    assert_eq!(puts[1].status, Some(412));
    assert_eq!(
        puts[1].request_header("if-match"),
        puts[0].request_header("if-match"),
        "the stale write sends the tag the first write replaced"
    );

    let png = fs::read(&screenshot).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n"), "not a PNG");
    eprintln!("screenshot: {}", screenshot.display());
    tap.print("chromium demo page");
}

/// `<target dir>/ecosystem/`, next to the test binary's `debug/` or
/// `release/`, where a reviewer finds the screenshot after a run.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // <target>/debug/deps/ecosystem-<hash>
    let target = exe
        .ancestors()
        .nth(3)
        .expect("the test binary lives in <target>/<profile>/deps");
    let dir = target.join("ecosystem");
    fs::create_dir_all(&dir).expect("create the screenshot dir");
    dir
}

fn browser_request<'a>(phase: &'a Value, path: &str) -> &'a Value {
    let matching: Vec<_> = phase["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter(|r| r["path"] == path)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "{} of {path}: {matching:#?}",
        phase["name"]
    );
    matching[0]
}

// ---------------------------------------------------------------------------
// nginx
// ---------------------------------------------------------------------------

/// Two replicas of the demo behind nginx with `proxy_cache` and
/// `proxy_cache_revalidate on`. The `ETag` is the same on both, so a tag
/// issued by one replica revalidates at the other; and when nginx's cached
/// copy goes stale, nginx revalidates it with whichever replica is next,
/// gets a `304`, and serves its cached body.
#[test]
#[ignore = "needs curl/chromium/nginx/python: run by .ci/run"]
fn nginx_revalidates_across_two_replicas() {
    let nginx = tool("nginx");
    let curl = tool("curl");
    let mut processes = Processes::default();
    let replica_a = start_demo(&mut processes, "replica A");
    let replica_b = start_demo(&mut processes, "replica B");

    // Direct requests: a tag from one replica is current at the other.
    for path in ["/data.json", "/app.css", "/report"] {
        let a = curl_get(&curl, replica_a, path, None);
        let b = curl_get(&curl, replica_b, path, None);
        assert_eq!((a.status(), b.status()), (200, 200));
        assert_eq!(a.body, b.body);
        let tag_a = a
            .header("etag")
            .expect("replica A sends an ETag")
            .to_owned();
        assert_eq!(b.header("etag"), Some(tag_a.as_str()), "{path}: same ETag");
        for (issued_by, asked) in [(replica_a, replica_b), (replica_b, replica_a)] {
            let check = curl_get(&curl, asked, path, Some(&tag_a));
            assert_eq!(check.status(), 304, "{path}: tag of {issued_by} at {asked}");
            assert!(check.body.is_empty());
            assert_eq!(check.header("etag"), Some(tag_a.as_str()));
            eprintln!("{path}: ETag {tag_a} from {issued_by} → 304 at {asked}");
        }
    }

    // nginx in front of both, each through a tap that records what the
    // origin is asked and what it answers.
    let tap_a = Tap::start(replica_a);
    let tap_b = Tap::start(replica_b);
    let dir = TempDir::new("nginx");
    let port = free_port();
    let config = dir.path().join("nginx.conf");
    fs::write(
        &config,
        nginx_config(dir.path(), port, &[tap_a.addr(), tap_b.addr()]),
    )
    .expect("write nginx.conf");
    let error_log = dir.path().join("error.log");
    processes.spawn(
        "nginx",
        Command::new(&nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&config)
            .arg("-e")
            .arg(&error_log)
            .stdin(Stdio::null()),
    );
    let proxy: SocketAddr = ([127, 0, 0, 1], port).into();
    wait_for_port(proxy, Duration::from_secs(20), || {
        processes.exited("nginx").map(|status| {
            format!(
                "nginx exited ({status}):\n{}",
                fs::read_to_string(&error_log).unwrap_or_default()
            )
        })
    });

    let first = curl_get(&curl, proxy, "/feed.json", None);
    assert_eq!(first.status(), 200);
    assert_eq!(first.header("x-cache-status"), Some("MISS"));
    assert_eq!(first.body, DATA_JSON.as_bytes());
    let etag = first.header("etag").expect("etag").to_owned();
    let second = curl_get(&curl, proxy, "/feed.json", None);
    assert_eq!(second.header("x-cache-status"), Some("HIT"));
    assert_eq!(second.body, DATA_JSON.as_bytes());

    // The entry is fresh for 1 s (nginx counts whole seconds, so up to 2 s).
    // Ask until nginx has revalidated it at least twice: round robin sends
    // consecutive revalidations to alternate replicas.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut revalidated = 0;
    while revalidated < 2 {
        assert!(
            Instant::now() < deadline,
            "nginx revalidated {revalidated} times in 20 s"
        );
        thread::sleep(Duration::from_millis(300));
        let response = curl_get(&curl, proxy, "/feed.json", None);
        assert_eq!(response.status(), 200);
        assert_eq!(response.body, DATA_JSON.as_bytes(), "the cached body");
        assert_eq!(response.header("etag"), Some(etag.as_str()));
        match response.header("x-cache-status") {
            Some("HIT") => {}
            Some("REVALIDATED") => revalidated += 1,
            other => panic!("X-Cache-Status {other:?}"),
        }
    }
    // A client's own conditional request is answered by nginx from its cache.
    let conditional = curl_get(&curl, proxy, "/feed.json", Some(&etag));
    assert_eq!(conditional.status(), 304);
    assert!(conditional.body.is_empty());

    // nginx's log: the first fetch at one replica, revalidations answered
    // 304 by the origin (at both replicas), the client always getting 200
    // with the whole body.
    let log = fs::read_to_string(dir.path().join("access.log")).expect("access.log");
    eprintln!("nginx access.log:\n{log}");
    let lines: Vec<_> = log.lines().map(NginxLine::parse).collect();
    let miss = lines
        .iter()
        .find(|l| l.get("cache") == "MISS")
        .expect("a MISS");
    assert_eq!(miss.get("upstream_status"), "200");
    let revalidations: Vec<_> = lines
        .iter()
        .filter(|l| l.get("cache") == "REVALIDATED")
        .collect();
    assert_eq!(revalidations.len(), 2, "{log}");
    for line in &revalidations {
        assert_eq!(line.get("upstream_status"), "304", "{log}");
        assert_eq!(line.get("status"), "200", "{log}");
        assert_eq!(line.get("bytes"), DATA_JSON.len().to_string(), "{log}");
    }
    let upstreams: BTreeSet<_> = revalidations.iter().map(|l| l.get("upstream")).collect();
    let both: BTreeSet<_> = [tap_a.addr().to_string(), tap_b.addr().to_string()]
        .into_iter()
        .collect();
    assert_eq!(
        upstreams,
        both.iter().map(String::as_str).collect(),
        "revalidated at both replicas"
    );
    let elsewhere = revalidations
        .iter()
        .find(|l| l.get("upstream") != miss.get("upstream"))
        .expect("a revalidation at the replica that did not issue the tag");
    eprintln!(
        "tag fetched from {} revalidated at {}",
        miss.get("upstream"),
        elsewhere.get("upstream")
    );

    // The origins' side: each replica got one conditional GET with the tag
    // and answered it with an empty 304; only one full body ever went out.
    let seen: Vec<_> = tap_a
        .exchanges()
        .into_iter()
        .chain(tap_b.exchanges())
        .collect();
    let full: Vec<_> = seen.iter().filter(|e| e.status == Some(200)).collect();
    assert_eq!(full.len(), 1, "{seen:#?}");
    assert_eq!(full[0].body_len, DATA_JSON.len());
    for tap in [&tap_a, &tap_b] {
        let not_modified: Vec<_> = tap
            .exchanges()
            .into_iter()
            .filter(|e| e.status == Some(304))
            .collect();
        assert_eq!(not_modified.len(), 1, "{:#?}", tap.exchanges());
        assert_eq!(
            not_modified[0].request_header("if-none-match"),
            Some(etag.as_str())
        );
        assert_eq!(not_modified[0].body_len, 0);
    }
    tap_a.print("origin A (from nginx)");
    tap_b.print("origin B (from nginx)");
}

fn nginx_config(prefix: &Path, port: u16, upstreams: &[SocketAddr]) -> String {
    // nginx follows the origin's own `Cache-Control: public, max-age=1` on
    // the demo's /feed.json, and revalidates with the stored ETag.
    let dir = prefix.display();
    nginx_around(
        prefix,
        64,
        upstreams,
        &format!(
            r#"    log_format cache 'method=$request_method uri=$uri status=$status bytes=$body_bytes_sent cache=$upstream_cache_status upstream=$upstream_addr upstream_status=$upstream_status';
    proxy_cache_path {dir}/cache keys_zone=demo:1m;
"#
        ),
        &format!(
            r#"        listen 127.0.0.1:{port};
        access_log {dir}/access.log cache;
        location / {{
            proxy_pass http://replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache demo;
            proxy_cache_revalidate on;
            add_header X-Cache-Status $upstream_cache_status always;
        }}
"#
        ),
    )
}

/// An nginx configuration of one process that never changes user
/// (`master_process off`), with all its files under `prefix` and nothing from
/// the system's configuration: `http` holds `http_extra`, an upstream
/// `replicas` of `upstreams`, and one server made of `server_body`.
fn nginx_around(
    prefix: &Path,
    worker_connections: u32,
    upstreams: &[SocketAddr],
    http_extra: &str,
    server_body: &str,
) -> String {
    let prefix = prefix.display();
    let servers: String = upstreams
        .iter()
        .map(|addr| format!("        server {addr};\n"))
        .collect();
    format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections {worker_connections}; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy_temp;
    fastcgi_temp_path {prefix}/fastcgi_temp;
    uwsgi_temp_path {prefix}/uwsgi_temp;
    scgi_temp_path {prefix}/scgi_temp;
{http_extra}    upstream replicas {{
{servers}    }}
    server {{
{server_body}    }}
}}
"#
    )
}

/// One line of the `cache` log format: `key=value` pairs.
struct NginxLine(Vec<(String, String)>);

impl NginxLine {
    fn parse(line: &str) -> NginxLine {
        NginxLine(
            line.split(' ')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {key}= in the nginx log line"))
    }
}

// ---------------------------------------------------------------------------
// Python: hishel
// ---------------------------------------------------------------------------

/// hishel (an RFC 9111 cache for httpx) stores `/data.json`; asked again, it
/// revalidates (`no-cache`) with the `ETag`, the server answers `304`, and
/// hishel hands back its stored body. `/report` (`max-age=60`) is served
/// from hishel's cache without asking the server at all.
#[test]
#[ignore = "needs curl/chromium/nginx/python: run by .ci/run"]
fn hishel_revalidates_and_reuses_its_copy() {
    let python = python();
    let mut processes = Processes::default();
    let demo = start_demo(&mut processes, "demo");
    let tap = Tap::start(demo);

    let output = run(
        "tests/ecosystem/hishel_client.py",
        Command::new(&python)
            .arg(ecosystem_dir().join("hishel_client.py"))
            .arg(format!("http://{}", tap.addr()))
            .args(["/data.json", "/report"]),
        Duration::from_secs(60),
    );
    let report: Value = serde_json::from_str(&output.stdout)
        .unwrap_or_else(|error| panic!("hishel_client.py printed no JSON ({error}):\n{output:?}"));
    eprintln!("hishel {} on httpx {}", report["hishel"], report["httpx"]);

    let data = report["paths"]["/data.json"]
        .as_array()
        .expect("/data.json");
    eprintln!("/data.json: {data:#?}");
    let (first, second) = (&data[0], &data[1]);
    assert_eq!(first["status"], 200);
    assert_eq!(first["body"], DATA_JSON);
    assert_eq!(first["stored"], true, "{first}");
    assert_eq!(first["from_cache"], false, "{first}");
    assert_eq!(first["wire"].as_array().map(Vec::len), Some(1));
    assert!(first["wire"][0]["if_none_match"].is_null());
    assert_eq!(first["wire"][0]["status"], 200);
    let etag = first["etag"].as_str().expect("etag");

    assert_eq!(second["status"], 200, "hishel answers with its copy");
    assert_eq!(second["body"], DATA_JSON);
    assert_eq!(second["from_cache"], true, "{second}");
    assert_eq!(second["revalidated"], true, "{second}");
    assert_eq!(second["wire"].as_array().map(Vec::len), Some(1));
    assert_eq!(second["wire"][0]["if_none_match"], etag);
    assert_eq!(second["wire"][0]["status"], 304);

    let fresh = report["paths"]["/report"].as_array().expect("/report");
    assert_eq!(fresh[1]["from_cache"], true, "{}", fresh[1]);
    assert_eq!(
        fresh[1]["wire"],
        Value::Array(vec![]),
        "max-age=60: no request"
    );
    assert_eq!(fresh[1]["body"], fresh[0]["body"]);

    let seen = tap.exchanges();
    let data: Vec<_> = seen.iter().filter(|e| e.path == "/data.json").collect();
    assert_eq!(data.len(), 2, "{seen:#?}");
    assert_eq!(
        (data[0].status, data[0].body_len),
        (Some(200), DATA_JSON.len())
    );
    assert_eq!(data[1].request_header("if-none-match"), Some(etag));
    assert_eq!((data[1].status, data[1].body_len), (Some(304), 0));
    assert_eq!(seen.iter().filter(|e| e.path == "/report").count(), 1);
    tap.print("hishel");
}

// ---------------------------------------------------------------------------
// Ranges: curl -C -, curl --range, Python requests with If-Range
// ---------------------------------------------------------------------------

/// `curl -C -` resumes a download of the demo's generated `/export.csv`
/// that was cut off part-way (the file holds its first third): it asks
/// for `Range: bytes=<what it has>-`, gets a `206` of the rest, and the file
/// it ends up with is byte for byte the export.
#[test]
#[ignore = "needs curl/chromium/nginx/python: run by .ci/run"]
fn curl_resumes_an_interrupted_download() {
    let curl = tool("curl");
    let mut processes = Processes::default();
    let demo = start_demo(&mut processes, "demo");
    let tap = Tap::start(demo);
    let dir = TempDir::new("curl-resume");
    let url = format!("http://{}/export.csv", tap.addr());
    let (whole, partial) = (dir.path().join("whole.csv"), dir.path().join("partial.csv"));

    run(
        "curl (whole)",
        Command::new(&curl)
            .args(["--silent", "--show-error", "--output"])
            .arg(&whole)
            .arg(&url),
        Duration::from_secs(30),
    );
    let expected = fs::read(&whole).expect("the whole export");
    assert!(expected.len() > 100_000, "{} bytes", expected.len());

    // What a download cut off part-way leaves behind: the first bytes. (A
    // cut made by curl's own rate limit and timeout is not reliable on
    // loopback, where the whole body can arrive within the first read.)
    let have = expected.len() / 3;
    fs::write(&partial, &expected[..have]).expect("write the partial download");

    let resumed = run(
        "curl -C -",
        Command::new(&curl)
            .args(["--silent", "--show-error", "-C", "-", "--output"])
            .arg(&partial)
            .args(["--write-out", "%{http_code}", &url]),
        Duration::from_secs(30),
    );
    assert_eq!(resumed.stdout.trim(), "206");
    assert!(
        fs::read(&partial).unwrap() == expected,
        "the resumed file differs from the export"
    );

    let seen = tap.exchanges();
    let resume = seen
        .iter()
        .find(|e| e.request_header("range").is_some())
        .unwrap_or_else(|| panic!("no request with Range: {seen:#?}"));
    assert_eq!(
        resume.request_header("range"),
        Some(format!("bytes={have}-").as_str())
    );
    assert_eq!(resume.status, Some(206));
    assert_eq!(
        resume.response_header("content-range"),
        Some(format!("bytes {have}-{}/{}", expected.len() - 1, expected.len()).as_str())
    );
    assert_eq!(resume.body_len, expected.len() - have);
    tap.print("curl -C -");
}

/// `curl --range 0-9,20-29`: a `multipart/byteranges` `206` whose parts are
/// the two slices of the export.
#[test]
#[ignore = "needs curl/chromium/nginx/python: run by .ci/run"]
fn curl_range_with_two_ranges_gets_multipart() {
    let curl = tool("curl");
    let mut processes = Processes::default();
    let demo = start_demo(&mut processes, "demo");
    let tap = Tap::start(demo);
    let whole = curl_get(&curl, tap.addr(), "/export.csv", None);
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));

    let output = run(
        "curl --range",
        Command::new(&curl)
            .args([
                "--silent",
                "--show-error",
                "--include",
                "--range",
                "0-9,20-29",
            ])
            .arg(format!("http://{}/export.csv", tap.addr())),
        Duration::from_secs(20),
    );
    let (head, body) = output
        .stdout
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("curl printed no response head: {output:?}"));
    let head = parse_head(head);
    assert_eq!(head.status(), 206);
    assert_eq!(head.header("etag"), whole.header("etag"));
    let boundary = head
        .header("content-type")
        .and_then(|t| t.strip_prefix("multipart/byteranges; boundary="))
        .unwrap_or_else(|| panic!("not multipart: {head:?}"));
    let total = whole.body.len();
    let expected = format!(
        "--{boundary}\r\nContent-Type: text/csv; charset=utf-8\r\nContent-Range: bytes 0-9/{total}\r\n\r\n{}\r\n\
         --{boundary}\r\nContent-Type: text/csv; charset=utf-8\r\nContent-Range: bytes 20-29/{total}\r\n\r\n{}\r\n\
         --{boundary}--\r\n",
        String::from_utf8_lossy(&whole.body[0..10]),
        String::from_utf8_lossy(&whole.body[20..30]),
    );
    assert_eq!(body, expected);
    tap.print("curl --range");
}

/// Python `requests` with `If-Range`: the current tag gets the range, an
/// old one the whole current body (RFC 9110 §13.1.5).
#[test]
#[ignore = "needs curl/chromium/nginx/python: run by .ci/run"]
fn python_requests_if_range() {
    let python = python();
    let mut processes = Processes::default();
    let demo = start_demo(&mut processes, "demo");
    let tap = Tap::start(demo);
    let output = run(
        "tests/ecosystem/range_client.py",
        Command::new(&python)
            .arg(ecosystem_dir().join("range_client.py"))
            .arg(format!("http://{}/export.csv", tap.addr())),
        Duration::from_secs(60),
    );
    let report: Value = serde_json::from_str(&output.stdout)
        .unwrap_or_else(|error| panic!("range_client.py printed no JSON ({error}):\n{output:?}"));
    eprintln!("requests {}: {report:#}", report["requests"]);
    let (first, current, stale) = (&report["first"], &report["current"], &report["stale"]);
    assert_eq!(first["status"], 200);
    assert_eq!(first["accept_ranges"], "bytes");
    let length = first["length"].as_u64().expect("length");
    assert_eq!(current["status"], 206, "{current}");
    assert_eq!(
        current["content_range"],
        format!("bytes 100-199/{length}").as_str()
    );
    assert_eq!(current["is_slice"], true, "{current}");
    assert_eq!(current["etag"], first["etag"]);
    assert_eq!(stale["status"], 200, "{stale}");
    assert_eq!(stale["is_whole"], true, "{stale}");
    assert!(stale["content_range"].is_null());

    let seen = tap.exchanges();
    let ranged: Vec<_> = seen
        .iter()
        .filter(|e| e.request_header("if-range").is_some())
        .collect();
    assert_eq!(ranged.len(), 2, "{seen:#?}");
    assert_eq!((ranged[0].status, ranged[0].body_len), (Some(206), 100));
    assert_eq!(ranged[1].status, Some(200));
    assert_eq!(ranged[1].body_len as u64, length);
    tap.print("requests If-Range");
}

// ---------------------------------------------------------------------------
// Chromium: seeking in an <audio> element
// ---------------------------------------------------------------------------

/// The generated WAV: 8 kHz, 16-bit mono PCM, 190 s: 3,040,044 bytes, under
/// the layer's default 4 MiB limit so that the layer holds it and serves its
/// ranges.
const TONE_RATE: u32 = 8_000;
const TONE_SECONDS: u32 = 190;
/// Where the page seeks: far past what Chromium reads for the metadata.
const SEEK_TO: f64 = 150.0;

/// Headless Chromium, its HTTP cache off, opens a page with `<audio
/// preload="metadata">` whose source is a WAV the handler generates (it
/// always answers the whole `200`: it never looks at `Range`), and seeks it
/// to 150 s of 190 s. The element gets there without an error; over the
/// wire, the media loader asked for `Range: bytes=N-` with `N` past the
/// middle of the file and not past the target, and the layer answered `206`
/// with `Content-Range: bytes N-last/length` and that slice of the WAV.
///
/// The cache is off so that the seek is the media loader's own request: with
/// it on, what goes to the server depends on how much of the first response
/// the cache stored before the loader let go of it (the next test).
#[test]
#[ignore = "needs curl/chromium/nginx/python: run by .ci/run"]
fn chromium_seeks_an_audio_element_in_a_generated_body() {
    let seek = seek_in_chromium("seek, cache off", true);
    let total = seek.wav.len();
    let target_byte = tone_offset(SEEK_TO);
    let (exchange, first) = seek
        .media
        .iter()
        .find_map(|e| {
            let range = e.request_header("range")?.strip_prefix("bytes=")?;
            let first: usize = range.strip_suffix('-')?.parse().ok()?;
            (total / 2 < first && first <= target_byte).then_some((e, first))
        })
        .unwrap_or_else(|| {
            panic!(
                "no Range: bytes=N- from the middle of the WAV to the target: {:#?}",
                seek.media
            )
        });
    assert_eq!(exchange.status, Some(206), "{exchange:#?}");
    assert_eq!(
        exchange.response_header("content-range"),
        Some(format!("bytes {first}-{}/{total}", total - 1).as_str()),
        "{exchange:#?}"
    );
    // The bytes themselves were checked against the WAV with every other
    // 206; here, that some did arrive.
    assert!(exchange.body_len > 0, "{exchange:#?}");
    // Nothing to validate: no cache, no conditional request.
    for e in &seek.media {
        assert_eq!(e.request_header("if-none-match"), None, "{e:#?}");
        assert_eq!(e.request_header("if-range"), None, "{e:#?}");
    }
}

/// The same seek with Chromium's HTTP cache on, as a browser ships. The
/// cache stores what it read of the first response, which on loopback can
/// reach past the target before the media loader lets the response go, and
/// it asks the server only about what it lacks or must revalidate: a `Range`
/// with `If-None-Match` for a stretch it holds (the layer's `304`, RFC 9110
/// §13.2.2: If-None-Match comes before Range), a `Range` with `If-Range`
/// for one it lacks (`206`). The WAV has no freshness lifetime (no
/// `Cache-Control`, no `Last-Modified`), so even a stretch the cache holds
/// goes to the server before it is used. Which of these happen varies from
/// run to run; every one of them must be right, and one must cover the
/// target.
#[test]
#[ignore = "needs curl/chromium/nginx/python: run by .ci/run"]
fn chromium_http_cache_seeks_an_audio_element_with_the_layer() {
    let seek = seek_in_chromium("seek, cache on", false);
    let total = seek.wav.len();
    let target_byte = tone_offset(SEEK_TO);
    let covering = seek.media.iter().find(|e| {
        let Some(range) = e
            .request_header("range")
            .and_then(|r| r.strip_prefix("bytes="))
        else {
            return false;
        };
        let Some((first, last)) = range.split_once('-') else {
            return false;
        };
        let last = if last.is_empty() {
            Some(total - 1)
        } else {
            last.parse().ok()
        };
        let first = first.parse::<usize>().ok();
        matches!((first, last), (Some(first), Some(last))
            if 0 < first && first <= target_byte && target_byte <= last)
    });
    let covering = covering
        .unwrap_or_else(|| panic!("no Range past 0 that covers the target: {:#?}", seek.media));
    assert!(matches!(covering.status, Some(206 | 304)), "{covering:#?}");
}

/// What a run of tests/ecosystem/media.py left for a test to look at
/// further: the WAV and the requests for it as the server saw them.
struct MediaSeek {
    wav: bytes::Bytes,
    media: Vec<Exchange>,
}

/// Serves the page and the WAV behind the layer, has media.py seek it in
/// Chromium, prints both sides' record, and checks what holds whatever
/// Chromium chose to ask: the element reached the target without an error,
/// and each answer about the WAV is right (a `200` is the WAV, a `206` the
/// slice its `Content-Range` names, a `304` answers an `If-None-Match` with
/// the WAV's one tag; an `If-Range` with that tag gets its `206`).
fn seek_in_chromium(label: &str, disable_cache: bool) -> MediaSeek {
    let chromium = chromium();
    let python = python();
    let wav = tone_wav();
    let total = wav.len();
    // Between the 16 KiB under which the layer does not advertise ranges
    // and its 4 MiB limit, with room for a seek far from either end.
    assert!((2 << 20..4 << 20).contains(&total), "{total} bytes");
    let handled = Arc::new(AtomicUsize::new(0));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let server = runtime.block_on(serve_tone(wav.clone(), handled.clone()));
    let tap = Tap::start(server);

    let started = Instant::now();
    let mut command = Command::new(&python);
    command
        .arg(ecosystem_dir().join("media.py"))
        .arg(format!("http://{}/", tap.addr()))
        .arg("--chromium")
        .arg(&chromium)
        .args(["--timeout", "45"]);
    if disable_cache {
        command.arg("--disable-cache");
    }
    let output = run(
        "tests/ecosystem/media.py",
        &mut command,
        Duration::from_secs(60),
    );
    let report: Value = serde_json::from_str(&output.stdout)
        .unwrap_or_else(|error| panic!("media.py printed no JSON ({error}):\n{output:?}"));
    eprintln!(
        "{label}: {} ({:.1} s)",
        report["chromium"],
        started.elapsed().as_secs_f64()
    );
    eprintln!("what Chromium reported:");
    for request in report["requests"].as_array().expect("requests") {
        let text = |name: &str| request[name].as_str().unwrap_or("-").to_owned();
        eprintln!(
            "  {} Range {} If-Range {} If-None-Match {} -> {} Content-Range {} {}",
            text("path"),
            text("range"),
            text("if_range"),
            text("if_none_match"),
            request["wire_status"],
            text("content_range"),
            if request["finished"] == true {
                format!("finished, {} bytes", request["encoded_length"])
            } else {
                format!("{}", request["failed"])
            }
        );
    }
    for event in report["events"].as_array().expect("events") {
        eprintln!("  event {event}");
    }
    let media: Vec<_> = tap
        .exchanges()
        .into_iter()
        .filter(|e| e.path == "/tone.wav")
        .collect();
    eprintln!(
        "what the server got and answered (the WAV handler ran {} times):",
        handled.load(Ordering::SeqCst)
    );
    for e in &media {
        let request = |name: &str| e.request_header(name).unwrap_or("-");
        eprintln!(
            "  {} {} Range {} If-Range {} If-None-Match {} -> {} Content-Range {} Content-Length {}, {} body bytes arrived",
            e.method,
            e.path,
            request("range"),
            request("if-range"),
            request("if-none-match"),
            e.status.map_or("-".to_owned(), |s| s.to_string()),
            e.response_header("content-range").unwrap_or("-"),
            e.response_header("content-length").unwrap_or("-"),
            e.body_len
        );
    }

    // The element got where it was sent, without an error.
    let result = &report["report"];
    assert_eq!(result["event"], "seeked", "{result}");
    assert!(result["error"].is_null(), "{result}");
    let duration = result["duration"].as_f64().expect("duration");
    assert!(
        (duration - f64::from(TONE_SECONDS)).abs() < 0.01,
        "{result}"
    );
    let at = result["currentTime"].as_f64().expect("currentTime");
    assert!((at - SEEK_TO).abs() < 0.5, "{result}");
    // HAVE_CURRENT_DATA or more: the samples at the target are in.
    assert!(result["readyState"].as_u64() >= Some(2), "{result}");
    // Chromium lets a seek go past what it has read only where it can fetch
    // from any offset: without ranges from the server `seekable` shrinks to
    // [0, 0] and `currentTime` snaps back to 0.
    let seekable = result["seekable"].as_array().expect("seekable");
    assert_eq!(seekable.len(), 1, "{result}");
    assert_eq!(seekable[0][0].as_f64(), Some(0.0), "{result}");
    assert!(seekable[0][1].as_f64() >= Some(duration - 0.01), "{result}");
    let buffered = result["buffered"].as_array().expect("buffered");
    assert!(
        buffered.iter().any(|r| {
            let (start, end) = (r[0].as_f64().unwrap(), r[1].as_f64().unwrap());
            start <= SEEK_TO && SEEK_TO < end
        }),
        "the target is buffered: {result}"
    );

    // Every answer about the WAV is right, and carries its one tag.
    assert!(!media.is_empty(), "no request for the WAV");
    let etag = media[0]
        .response_header("etag")
        .unwrap_or_else(|| panic!("no ETag: {:#?}", media[0]))
        .to_owned();
    for e in &media {
        assert_eq!(e.response_header("etag"), Some(etag.as_str()), "{e:#?}");
        match e.status {
            Some(200) => {
                assert_eq!(e.request_header("range"), None, "{e:#?}");
                assert!(wav.starts_with(&e.body), "a 200 that is not the WAV");
            }
            Some(206) => {
                let (first, last, length) = e
                    .response_header("content-range")
                    .and_then(parse_content_range)
                    .unwrap_or_else(|| panic!("a 206 without one range: {e:#?}"));
                assert_eq!(length, total, "{e:#?}");
                assert!(first <= last && last < total, "{e:#?}");
                assert_eq!(content_length(&e.response_headers), Some(last + 1 - first));
                // What arrived: all of it, or as much as Chromium read
                // before it closed the connection.
                assert!(
                    wav[first..=last].starts_with(&e.body),
                    "the 206 for {:?} is not bytes {first}-{last} of the WAV",
                    e.request_header("range")
                );
            }
            Some(304) => {
                assert_eq!(
                    e.request_header("if-none-match"),
                    Some(etag.as_str()),
                    "{e:#?}"
                );
                assert_eq!(e.body_len, 0, "{e:#?}");
            }
            other => panic!("{other:?} for the WAV: {e:#?}"),
        }
        // A range under an If-Range naming the current tag is served
        // (RFC 9110 §13.1.5), unless an If-None-Match answered first.
        if e.request_header("if-range") == Some(etag.as_str())
            && e.request_header("if-none-match").is_none()
        {
            assert_eq!(e.status, Some(206), "{e:#?}");
        }
    }
    drop(runtime);
    MediaSeek { wav, media }
}

/// Where the sample at `seconds` starts in the WAV (44-byte header, 2 bytes
/// a sample).
fn tone_offset(seconds: f64) -> usize {
    44 + (seconds * f64::from(TONE_RATE)) as usize * 2
}

/// The page and the WAV behind `ConditionalLayer::new()`, on a loopback
/// port; `handled` counts the WAV handler's calls.
async fn serve_tone(wav: bytes::Bytes, handled: Arc<AtomicUsize>) -> SocketAddr {
    use axum::http::header::CONTENT_TYPE;
    use axum::response::Html;
    use axum::routing::get;

    let page = format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>seek</title></head>
<body>
<audio id="tone" src="/tone.wav" preload="metadata"></audio>
<script>
  const audio = document.getElementById("tone");
  window.mediaReport = null;
  window.mediaEvents = [];
  const ranges = r => Array.from({{length: r.length}}, (_, i) => [r.start(i), r.end(i)]);
  const snapshot = event => ({{
    event,
    currentTime: audio.currentTime,
    duration: audio.duration,
    readyState: audio.readyState,
    networkState: audio.networkState,
    buffered: ranges(audio.buffered),
    seekable: ranges(audio.seekable),
    error: audio.error && {{code: audio.error.code, message: audio.error.message}},
  }});
  for (const name of ["loadedmetadata", "seeking", "seeked", "canplay", "suspend", "stalled", "error"]) {{
    audio.addEventListener(name, () => mediaEvents.push(snapshot(name)));
  }}
  // Seek once the element knows the duration; the report is what it is
  // when the seek is over, or the error.
  audio.addEventListener("loadedmetadata", () => {{ audio.currentTime = {SEEK_TO}; }}, {{once: true}});
  audio.addEventListener("seeked", () => {{ mediaReport = snapshot("seeked"); }}, {{once: true}});
  audio.addEventListener("error", () => {{ mediaReport = snapshot("error"); }});
</script>
</body>
</html>
"#
    );
    // The handler answers every GET with the whole WAV, Range or not:
    // whatever 206 goes out is the layer's.
    let tone = move || {
        handled.fetch_add(1, Ordering::SeqCst);
        let wav = wav.clone();
        async move { ([(CONTENT_TYPE, "audio/wav")], wav) }
    };
    let app = axum::Router::new()
        .route("/", get(move || async move { Html(page) }))
        .route("/tone.wav", get(tone))
        .layer(tower_conditional::ConditionalLayer::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the media server");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A RIFF/WAVE file of 16-bit mono PCM: a tone whose pitch steps up every
/// second, so that no stretch of the file repeats another and a slice from
/// the wrong offset does not pass for the right one.
fn tone_wav() -> bytes::Bytes {
    let samples = TONE_RATE * TONE_SECONDS;
    let data_len = samples * 2;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&TONE_RATE.to_le_bytes());
    wav.extend_from_slice(&(TONE_RATE * 2).to_le_bytes()); // bytes a second
    wav.extend_from_slice(&2u16.to_le_bytes()); // bytes a frame
    wav.extend_from_slice(&16u16.to_le_bytes()); // bits a sample
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    let mut phase = 0.0f64;
    for n in 0..samples {
        let hertz = 220.0 + 7.0 * f64::from(n / TONE_RATE);
        phase += std::f64::consts::TAU * hertz / f64::from(TONE_RATE);
        let sample = (phase.sin() * 8_000.0) as i16;
        wav.extend_from_slice(&sample.to_le_bytes());
    }
    bytes::Bytes::from(wav)
}

/// `bytes first-last/length` as numbers.
fn parse_content_range(value: &str) -> Option<(usize, usize, usize)> {
    let (span, length) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (first, last) = span.split_once('-')?;
    Some((
        first.parse().ok()?,
        last.parse().ok()?,
        length.parse().ok()?,
    ))
}

// ---------------------------------------------------------------------------
// PostgreSQL: optimistic concurrency across two replicas
// ---------------------------------------------------------------------------

const WRITERS: usize = 8;
const INCREMENTS: usize = 50;

/// Two replicas of `examples/optimistic-concurrency/` on one throwaway
/// PostgreSQL cluster, behind nginx. Eight writers each make fifty
/// read-modify-write increments of one counter with `If-Match`, retrying on
/// `412` (RFC 9110 §13.1.1) and `503`. Midway PostgreSQL is stopped: every
/// checked write gets `503` and none is applied; after the restart the run
/// completes. At the end the counter equals the writes that succeeded, and a
/// conditional GET of it gets `304` without a handler running.
#[test]
#[ignore = "needs nginx and postgresql: run by .ci/run"]
fn postgres_replicas_lose_no_write() {
    let deadline = Instant::now() + Duration::from_secs(240);
    let nginx = tool("nginx");
    let cluster = Cluster::start();
    let binary = example_binary("example-optimistic-concurrency");
    let mut processes = Processes::default();
    let replicas: Vec<SocketAddr> = ["replica A", "replica B"]
        .iter()
        .map(|name| {
            start_server(
                &mut processes,
                name,
                Command::new(&binary).env("DATABASE_URL", cluster.url()),
            )
        })
        .collect();
    let dir = TempDir::new("nginx-postgres");
    let port = free_port();
    let config = dir.path().join("nginx.conf");
    fs::write(&config, proxy_config(dir.path(), port, &replicas)).expect("write nginx.conf");
    processes.spawn(
        "nginx",
        Command::new(&nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null()),
    );
    let front: SocketAddr = ([127, 0, 0, 1], port).into();
    wait_for_port(front, Duration::from_secs(10), || {
        processes
            .exited("nginx")
            .map(|status| format!("nginx exited ({status})"))
    });

    let created = request(
        front,
        "PUT",
        "/items/counter",
        &[("if-none-match", "*")],
        "{\"count\":0}",
    );
    assert_eq!(created.status, 201, "{created:?}");
    let again = request(
        front,
        "PUT",
        "/items/counter",
        &[("if-none-match", "*")],
        "{\"count\":9}",
    );
    assert_eq!(again.status, 412, "create-only PUT does not overwrite");

    let tally = Arc::new(Tally::default());
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let tally = tally.clone();
            thread::spawn(move || {
                for _ in 0..INCREMENTS {
                    increment(front, &tally, deadline);
                }
            })
        })
        .collect();

    // Midway, PostgreSQL goes away for two seconds.
    while tally.successes.load(Ordering::SeqCst) < WRITERS * INCREMENTS / 3 {
        assert!(Instant::now() < deadline, "the writers are stuck");
        thread::sleep(Duration::from_millis(5));
    }
    let before = read_counter(front);
    cluster.stop();
    // The writes that follow would set the counter below zero: a writer that
    // read such a count would fail the test.
    for _ in 0..5 {
        let refused = request(
            front,
            "PUT",
            "/items/counter",
            &[("if-match", &before.etag)],
            "{\"count\":-1000}",
        );
        assert_eq!(
            refused.status, 503,
            "a checked write while the database is down"
        );
        tally.refused.fetch_add(1, Ordering::SeqCst);
    }
    thread::sleep(Duration::from_secs(2));
    cluster.start_again();

    for writer in writers {
        writer.join().expect("a writer panicked");
    }
    let last = read_counter(front);
    let successes = tally.successes.load(Ordering::SeqCst);
    assert_eq!(successes, WRITERS * INCREMENTS);
    assert_eq!(
        last.count as usize, successes,
        "the counter counts every successful write, once"
    );

    // A conditional GET of the unchanged counter: 304, and no handler ran.
    let runs = || -> u64 {
        replicas
            .iter()
            .map(|addr| {
                let stats = request(*addr, "GET", "/stats", &[], "");
                let stats: Value = serde_json::from_str(&stats.body).expect("stats JSON");
                stats["handler_runs"].as_u64().expect("handler_runs")
            })
            .sum()
    };
    let runs_before = runs();
    for _ in 0..2 {
        // Twice, so that round robin asks both replicas.
        let revalidated = request(
            front,
            "GET",
            "/items/counter",
            &[("if-none-match", &last.etag)],
            "",
        );
        assert_eq!(revalidated.status, 304);
        assert_eq!(revalidated.header("etag"), Some(last.etag.as_str()));
    }
    let handler_runs = runs();
    assert_eq!(
        handler_runs, runs_before,
        "the 304s were answered before any handler"
    );

    let requests = tally.requests.load(Ordering::SeqCst) + 5 + 2 + 2;
    eprintln!(
        "postgres: {requests} item requests through nginx, {successes} writes, {} retries after 412, \
         {} answers 503, {} handler runs: {} requests answered without one",
        tally.precondition_failed.load(Ordering::SeqCst),
        tally.refused.load(Ordering::SeqCst),
        handler_runs,
        requests as u64 - handler_runs,
    );
}

#[derive(Default)]
struct Tally {
    requests: AtomicUsize,
    successes: AtomicUsize,
    precondition_failed: AtomicUsize,
    refused: AtomicUsize,
}

struct Counter {
    count: i64,
    etag: String,
}

fn version(etag: &str) -> u64 {
    etag.strip_prefix("\"v")
        .and_then(|rest| rest.strip_suffix('"'))
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("not an example tag: {etag}"))
}

fn read_counter(front: SocketAddr) -> Counter {
    let answer = request(front, "GET", "/items/counter", &[], "");
    assert_eq!(answer.status, 200, "{answer:?}");
    let value: Value = serde_json::from_str(&answer.body).expect("JSON");
    Counter {
        count: value["count"].as_i64().expect("a count"),
        etag: answer.header("etag").expect("an ETag").to_owned(),
    }
}

/// One read-modify-write increment, retried until it is applied once.
fn increment(front: SocketAddr, tally: &Tally, deadline: Instant) {
    loop {
        assert!(
            Instant::now() < deadline,
            "an increment did not get through in time"
        );
        tally.requests.fetch_add(1, Ordering::SeqCst);
        let read = request(front, "GET", "/items/counter", &[], "");
        if read.status == 503 {
            tally.refused.fetch_add(1, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(50));
            continue;
        }
        assert_eq!(read.status, 200, "{read:?}");
        let value: Value = serde_json::from_str(&read.body).expect("JSON");
        let etag = read.header("etag").expect("an ETag").to_owned();
        let count = value["count"].as_i64().expect("a count");
        assert!(count >= 0, "a write refused with 503 was applied");
        let next = count + 1;
        tally.requests.fetch_add(1, Ordering::SeqCst);
        let body = format!("{{\"count\":{next}}}");
        let written = request(
            front,
            "PUT",
            "/items/counter",
            &[("if-match", &etag)],
            &body,
        );
        match written.status {
            200 => {
                tally.successes.fetch_add(1, Ordering::SeqCst);
                return;
            }
            412 => {
                // The current tag, newer than the one this writer read.
                let current = written
                    .header("etag")
                    .expect("a 412 carries the current ETag");
                assert!(version(current) > version(&etag), "{current} after {etag}");
                tally.precondition_failed.fetch_add(1, Ordering::SeqCst);
            }
            503 => {
                tally.refused.fetch_add(1, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(50));
            }
            status => panic!("PUT answered {status}: {written:?}"),
        }
    }
}

/// nginx as a plain reverse proxy (no cache) over `upstreams`, round robin.
fn proxy_config(prefix: &Path, port: u16, upstreams: &[SocketAddr]) -> String {
    nginx_around(
        prefix,
        256,
        upstreams,
        "",
        &format!(
            r#"        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
"#
        ),
    )
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 exchange on its own connection, within 10 s.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send");
    stream.write_all(body.as_bytes()).expect("send body");
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).expect("read the answer");
    let text = String::from_utf8_lossy(&bytes);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A throwaway PostgreSQL cluster in a temp dir, on a loopback port, run by
/// the `postgres` user when the test runs as root (PostgreSQL refuses root).
/// Stopped when dropped.
struct Cluster {
    dir: TempDir,
    port: u16,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = TempDir::new("postgres");
        let port = free_port();
        let cluster = Cluster { dir, port };
        if is_root() {
            run(
                "chown",
                Command::new("chown")
                    .args(["-R", "postgres"])
                    .arg(cluster.dir.path()),
                Duration::from_secs(10),
            );
        }
        run(
            "initdb",
            cluster
                .as_owner(&postgres_tool("initdb"))
                .arg("-D")
                .arg(cluster.data())
                .args(["-U", "postgres", "-A", "trust", "--no-sync"]),
            Duration::from_secs(120),
        );
        cluster.start_again();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }

    fn as_owner(&self, tool: &Path) -> Command {
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(tool);
            command
        } else {
            Command::new(tool)
        }
    }

    fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        run(
            "pg_ctl start",
            self.as_owner(&postgres_tool("pg_ctl"))
                .arg("-D")
                .arg(self.data())
                .args(["-o", &options, "-w", "-t", "60", "start"])
                .arg("-l")
                .arg(self.dir.path().join("log")),
            Duration::from_secs(90),
        );
    }

    fn stop(&self) {
        run(
            "pg_ctl stop",
            self.as_owner(&postgres_tool("pg_ctl"))
                .arg("-D")
                .arg(self.data())
                .args(["-m", "fast", "-w", "stop"]),
            Duration::from_secs(60),
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .as_owner(&postgres_tool("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

/// `initdb` and `pg_ctl` are not on PATH in Debian: they live in
/// /usr/lib/postgresql/<major>/bin.
fn postgres_tool(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin").join(name))
        .filter(|path| path.is_file())
        .collect();
    versions.sort();
    versions.pop().unwrap_or_else(|| tool(name))
}

// ---------------------------------------------------------------------------
// Tools, processes, temp dirs
// ---------------------------------------------------------------------------

fn ecosystem_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ecosystem")
}

/// Finds `name` on PATH (or in /usr/sbin and /sbin, where nginx lives), or
/// fails the test.
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not installed (not on PATH): {INSTALL_HINT}"))
}

/// `$CHROMIUM` if set, else `chromium` from PATH.
fn chromium() -> PathBuf {
    match std::env::var_os("CHROMIUM") {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "CHROMIUM={} is not a file: {INSTALL_HINT}",
                path.display()
            );
            path
        }
        None => tool("chromium"),
    }
}

/// The virtualenv that install.sh makes, with hishel and httpx.
fn python() -> PathBuf {
    let python = ecosystem_dir().join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: {INSTALL_HINT}",
        python.display()
    );
    python
}

/// Builds the demo (`examples/demo/`) once per test binary and returns its path.
fn demo_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| example_binary("example-demo"))
}

/// Builds the example crate `package` (whose binary has its name) and
/// returns the binary's path.
fn example_binary(package: &str) -> PathBuf {
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--locked", "-p", package, "--bin", package])
        .arg("--message-format=json-render-diagnostics");
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    let output = run(
        &format!("cargo build -p {package}"),
        &mut command,
        Duration::from_secs(900),
    );
    output
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact" && message["target"]["name"] == package
        })
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo named no {package} executable:\n{output:?}"))
}

/// Starts a demo on a port the system picks (`ADDR=127.0.0.1:0`) and returns
/// the address it printed once it was listening.
fn start_demo(processes: &mut Processes, name: &str) -> SocketAddr {
    start_server(processes, name, &mut Command::new(demo_binary()))
}

/// Starts a server that listens where `ADDR` says (`127.0.0.1:0`: a port
/// the system picks) and returns the address it printed once listening.
fn start_server(processes: &mut Processes, name: &str, command: &mut Command) -> SocketAddr {
    let child = processes.spawn(
        name,
        command
            .env("ADDR", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    );
    let stdout = child.stdout.take().expect("piped stdout");
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = sender.send(line);
        }
        lines.for_each(drop); // keep the pipe drained
    });
    let line = receiver
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{name} did not say where it listens within 30 s"));
    line.strip_prefix("listening on http://")
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("{name} printed {line:?}"))
}

/// A port that was free a moment ago (for nginx, which must be told one).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// Waits until `addr` accepts connections; `died` says why not, if the
/// process behind it is gone.
fn wait_for_port(addr: SocketAddr, limit: Duration, mut died: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + limit;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Some(reason) = died() {
            panic!("{reason}");
        }
        assert!(
            Instant::now() < deadline,
            "nothing listens on {addr} after {limit:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Child processes, each in its own process group; the groups are killed
/// when this is dropped (at the end of a test, or when it panics).
#[derive(Default)]
struct Processes(Vec<(String, Child)>);

impl Processes {
    fn spawn(&mut self, name: &str, command: &mut Command) -> &mut Child {
        let child = command
            .process_group(0)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {name} ({command:?}): {error}"));
        self.0.push((name.to_owned(), child));
        &mut self.0.last_mut().expect("just pushed").1
    }

    fn exited(&mut self, name: &str) -> Option<ExitStatus> {
        let (_, child) = self.0.iter_mut().find(|(n, _)| n == name)?;
        child.try_wait().ok().flatten()
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            stop(child);
        }
    }
}

/// Kills `child`'s process group (it leads one: see `Processes::spawn`),
/// then the child itself, and reaps it, waiting at most 5 s.
fn stop(child: &mut Child) {
    if child.try_wait().ok().flatten().is_none() {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = child.kill();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
}

#[derive(Debug)]
struct Finished {
    stdout: String,
    #[allow(dead_code)] // shown by Debug when a test fails
    stderr: String,
}

/// Runs `command` to completion within `limit`, failing the test when it
/// cannot start, runs too long (its whole process group is killed), or
/// exits unsuccessfully.
fn run(what: &str, command: &mut Command, limit: Duration) -> Finished {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {what} ({command:?}): {error}"));
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                stop(&mut child);
                let stderr = stderr.join().unwrap_or_default();
                panic!("{what} did not finish within {limit:?}; stderr:\n{stderr}");
            }
            Err(error) => panic!("waiting for {what}: {error}"),
        }
    };
    let finished = Finished {
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    assert!(status.success(), "{what} failed ({status}): {finished:#?}");
    finished
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn read_to_string(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// A fresh directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "tower-conditional-ecosystem-{}-{}-{label}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// curl as a plain HTTP client
// ---------------------------------------------------------------------------

/// Status line and headers of an HTTP/1.1 response.
#[derive(Debug)]
struct Head {
    start_line: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn status(&self) -> u16 {
        self.start_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not a status line: {:?}", self.start_line))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn parse_head(text: &str) -> Head {
    let mut lines = text.split("\r\n").filter(|line| !line.is_empty());
    let start_line = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Head {
        start_line,
        headers,
    }
}

struct CurlResponse {
    head: Head,
    body: Vec<u8>,
}

impl CurlResponse {
    fn status(&self) -> u16 {
        self.head.status()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }
}

/// `curl -i` GET, optionally with `If-None-Match`.
fn curl_get(
    curl: &Path,
    addr: SocketAddr,
    path: &str,
    if_none_match: Option<&str>,
) -> CurlResponse {
    let mut command = Command::new(curl);
    command.args(["--silent", "--show-error", "--include", "--max-time", "10"]);
    if let Some(tag) = if_none_match {
        command.arg("--header").arg(format!("If-None-Match: {tag}"));
    }
    command.arg(format!("http://{addr}{path}"));
    let output = run("curl", &mut command, Duration::from_secs(20));
    let (head, body) = output
        .stdout
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("curl printed no response head: {output:?}"));
    CurlResponse {
        head: parse_head(head),
        body: body.as_bytes().to_vec(),
    }
}

// ---------------------------------------------------------------------------
// The tap: a recording TCP relay
// ---------------------------------------------------------------------------

/// A loopback listener that relays every connection to `upstream` and keeps
/// a copy of the bytes going each way.
struct Tap {
    addr: SocketAddr,
    connections: Arc<Mutex<Vec<Arc<Mutex<Conversation>>>>>,
    stopping: Arc<AtomicBool>,
}

#[derive(Default)]
struct Conversation {
    to_server: Vec<u8>,
    to_client: Vec<u8>,
}

/// One request on a tapped connection and the response to it, as far as it
/// has arrived.
struct Exchange {
    method: String,
    path: String,
    request_headers: Vec<(String, String)>,
    status: Option<u16>,
    response_headers: Vec<(String, String)>,
    body_len: usize,
    /// The payload that has arrived (de-chunked), `body_len` bytes.
    body: Vec<u8>,
}

/// As derived, but with the body's length in place of its bytes, which can
/// be megabytes.
impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("request_headers", &self.request_headers)
            .field("status", &self.status)
            .field("response_headers", &self.response_headers)
            .field("body_len", &self.body_len)
            .finish_non_exhaustive()
    }
}

impl Exchange {
    fn request_header(&self, name: &str) -> Option<&str> {
        find_header(&self.request_headers, name)
    }

    fn response_header(&self, name: &str) -> Option<&str> {
        find_header(&self.response_headers, name)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl Tap {
    fn start(upstream: SocketAddr) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the tap");
        let addr = listener.local_addr().expect("tap address");
        let connections: Arc<Mutex<Vec<Arc<Mutex<Conversation>>>>> = Arc::default();
        let stopping = Arc::new(AtomicBool::new(false));
        let (list, stop) = (connections.clone(), stopping.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5))
                else {
                    continue; // the client sees its connection close
                };
                let conversation = Arc::new(Mutex::new(Conversation::default()));
                list.lock().unwrap().push(conversation.clone());
                let (client2, server2) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                let up = conversation.clone();
                thread::spawn(move || relay(client, server, &up, true));
                thread::spawn(move || relay(server2, client2, &conversation, false));
            }
        });
        Tap {
            addr,
            connections,
            stopping,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every exchange seen so far, connection by connection, in order.
    fn exchanges(&self) -> Vec<Exchange> {
        let connections = self.connections.lock().unwrap();
        connections
            .iter()
            .flat_map(|conversation| {
                let conversation = conversation.lock().unwrap();
                parse_conversation(&conversation.to_server, &conversation.to_client)
            })
            .collect()
    }

    /// Prints the exchanges as an access log (shown with --nocapture).
    fn print(&self, label: &str) {
        eprintln!("{label}: what the server got and answered");
        for e in self.exchanges() {
            let conditions: Vec<_> = ["if-none-match", "if-modified-since"]
                .into_iter()
                .filter_map(|name| e.request_header(name).map(|v| format!("{name}: {v}")))
                .collect();
            eprintln!(
                "  {} {} [{}] -> {} etag={} body={} bytes",
                e.method,
                e.path,
                conditions.join(", "),
                e.status.map_or("-".to_owned(), |s| s.to_string()),
                e.response_header("etag").unwrap_or("-"),
                e.body_len
            );
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)); // wake accept
    }
}

/// Copies `from` to `to`, recording what passes, until `from` closes.
fn relay(mut from: TcpStream, mut to: TcpStream, record: &Mutex<Conversation>, upstream: bool) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            // Recorded before it is passed on: once the peer has the bytes,
            // so has the record.
            let mut record = record.lock().unwrap();
            let side = if upstream {
                &mut record.to_server
            } else {
                &mut record.to_client
            };
            side.extend_from_slice(&buffer[..n]);
        }
        if to.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Splits the bytes of one HTTP/1.1 connection into exchanges. A response
/// still streaming (the event stream) counts what has arrived.
fn parse_conversation(to_server: &[u8], to_client: &[u8]) -> Vec<Exchange> {
    let mut exchanges = Vec::new();
    let mut rest = to_server;
    while let Some((head, after)) = split_head(rest) {
        let length = content_length(&head.headers).unwrap_or(0);
        rest = &after[length.min(after.len())..];
        let mut target = head.start_line.split(' ');
        let method = target.next().unwrap_or_default().to_owned();
        let path = target.next().unwrap_or_default().to_owned();
        exchanges.push(Exchange {
            method,
            path,
            request_headers: head.headers,
            status: None,
            response_headers: Vec::new(),
            body_len: 0,
            body: Vec::new(),
        });
    }

    let mut rest = to_client;
    let mut index = 0;
    while index < exchanges.len() {
        let Some((head, after)) = split_head(rest) else {
            break;
        };
        let status = head.status();
        if (100..200).contains(&status) {
            rest = after;
            continue;
        }
        let exchange = &mut exchanges[index];
        let bodiless = exchange.method == "HEAD" || status == 204 || status == 304;
        let chunked = find_header(&head.headers, "transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let (body, consumed) = if bodiless {
            (Vec::new(), 0)
        } else if chunked {
            dechunk(after)
        } else if let Some(length) = content_length(&head.headers) {
            let length = length.min(after.len());
            (after[..length].to_vec(), length)
        } else {
            (after.to_vec(), after.len()) // delimited by the connection closing
        };
        exchange.status = Some(status);
        exchange.response_headers = head.headers;
        exchange.body_len = body.len();
        exchange.body = body;
        rest = &after[consumed..];
        index += 1;
    }
    exchanges
}

/// A head (start line and headers) at the start of `bytes`, and what follows.
fn split_head(bytes: &[u8]) -> Option<(Head, &[u8])> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = parse_head(&String::from_utf8_lossy(&bytes[..end]));
    Some((head, &bytes[end + 4..]))
}

fn content_length(headers: &[(String, String)]) -> Option<usize> {
    find_header(headers, "content-length").and_then(|v| v.parse().ok())
}

/// The payload of a chunked body and the bytes it takes on the wire, as far
/// as it is complete.
fn dechunk(bytes: &[u8]) -> (Vec<u8>, usize) {
    let (mut payload, mut at) = (Vec::new(), 0);
    loop {
        let Some(line_end) = bytes[at..].windows(2).position(|w| w == b"\r\n") else {
            return (payload, at);
        };
        let line = String::from_utf8_lossy(&bytes[at..at + line_end]);
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return (payload, at);
        };
        let data_start = at + line_end + 2;
        if size == 0 {
            // Trailer lines, if any, then an empty line.
            let mut line_start = data_start;
            while let Some(p) = bytes[line_start..].windows(2).position(|w| w == b"\r\n") {
                line_start += p + 2;
                if p == 0 {
                    break;
                }
            }
            return (payload, line_start.min(bytes.len()));
        }
        if bytes.len() < data_start + size + 2 {
            payload.extend_from_slice(
                &bytes[data_start.min(bytes.len())..(data_start + size).min(bytes.len())],
            );
            return (payload, bytes.len());
        }
        payload.extend_from_slice(&bytes[data_start..data_start + size]);
        at = data_start + size + 2;
    }
}
