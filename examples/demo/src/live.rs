//! What the demo shows of the layer's work: the terminal line per request,
//! the counters per route and the feed of server-sent events the page reads.
//!
//! Everything a client sent that is shown (the path) is escaped to printable
//! ASCII first, and everything is capped, so a hostile request can neither
//! write control sequences to the terminal nor grow the server's memory:
//! the counters are keyed by the router's own route patterns.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::HttpBody as _;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::ETAG;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::Response;
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast;
use tower_conditional::{Action, Outcome};

/// The last requests the page lists.
const RECENT: usize = 12;
/// Seconds of history in the chart.
const SERIES: usize = 60;
/// The key of requests that matched no route (404s).
const UNROUTED: &str = "(no route)";

/// The counts of one route, or of all.
#[derive(Default, Clone, Copy)]
struct Row {
    ok: u64,
    not_modified: u64,
    failed: u64,
    other: u64,
    /// Bytes of content sent, where the length was known.
    sent: u64,
    /// Bytes the `304`s did not send: the lengths of the bodies they replaced.
    saved: u64,
    /// Responses whose length nobody knew when they left (streams).
    sent_unknown: u64,
    /// `304`s whose replaced body's length was not known.
    saved_unknown: u64,
}

impl Row {
    fn add(&mut self, status: StatusCode, sent: Option<u64>, saved: Option<u64>) {
        match status.as_u16() {
            200 => self.ok += 1,
            304 => self.not_modified += 1,
            412 => self.failed += 1,
            _ => self.other += 1,
        }
        match sent {
            Some(bytes) => self.sent += bytes,
            None => self.sent_unknown += 1,
        }
        match saved {
            Some(bytes) => self.saved += bytes,
            None if status == StatusCode::NOT_MODIFIED => self.saved_unknown += 1,
            None => {}
        }
    }

    fn json(&self) -> String {
        format!(
            "{{\"ok\":{},\"not_modified\":{},\"failed\":{},\"other\":{},\"sent\":{},\"saved\":{},\
             \"sent_unknown\":{},\"saved_unknown\":{}}}",
            self.ok,
            self.not_modified,
            self.failed,
            self.other,
            self.sent,
            self.saved,
            self.sent_unknown,
            self.saved_unknown
        )
    }
}

struct Stats {
    seq: u64,
    routes: BTreeMap<&'static str, Row>,
    totals: Row,
    /// The last requests, newest first, each as JSON.
    recent: VecDeque<String>,
    /// Per second since the start: (second, bytes sent, bytes saved).
    series: VecDeque<(u64, u64, u64)>,
}

/// The shared state of the feed.
pub struct Live {
    started: Instant,
    routes: Vec<&'static str>,
    feed: &'static str,
    stats: Mutex<Stats>,
    events: broadcast::Sender<Arc<str>>,
}

impl Live {
    pub fn new(routes: Vec<&'static str>, feed: &'static str) -> Self {
        let stats = Stats {
            seq: 0,
            routes: routes
                .iter()
                .map(|route| (*route, Row::default()))
                .collect(),
            totals: Row::default(),
            recent: VecDeque::new(),
            series: VecDeque::new(),
        };
        Live {
            started: Instant::now(),
            routes,
            feed,
            stats: Mutex::new(stats),
            events: broadcast::channel(256).0,
        }
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Counts one response and tells the page. The event is sent under the
    /// lock that [`Live::subscribe`] takes, so a page's snapshot and the
    /// events after it neither miss nor repeat a request.
    fn record(&self, route: &'static str, line: &Line) {
        let t = self.now();
        let mut stats = self.stats.lock().unwrap();
        stats.seq += 1;
        let seq = stats.seq;
        let row = stats.routes.entry(route).or_default();
        row.add(line.status, line.sent, line.saved);
        let row = *row;
        stats.totals.add(line.status, line.sent, line.saved);
        let entry = line.json(route);
        stats.recent.push_front(entry.clone());
        stats.recent.truncate(RECENT);
        match stats.series.back_mut() {
            Some(last) if last.0 == t => {
                last.1 += line.sent.unwrap_or(0);
                last.2 += line.saved.unwrap_or(0);
            }
            _ => stats
                .series
                .push_back((t, line.sent.unwrap_or(0), line.saved.unwrap_or(0))),
        }
        while stats
            .series
            .front()
            .is_some_and(|first| first.0 + SERIES as u64 <= t)
        {
            stats.series.pop_front();
        }
        let event = format!(
            "{{\"seq\":{seq},\"t\":{t},\"route\":{},\"row\":{},\"totals\":{},\"entry\":{entry}}}",
            json_string(route),
            row.json(),
            stats.totals.json()
        );
        // No page listening is no error.
        let _ = self.events.send(event.into());
    }

    /// A receiver for the events from now on, and the state they start from.
    fn subscribe(&self) -> (broadcast::Receiver<Arc<str>>, String) {
        let stats = self.stats.lock().unwrap();
        (self.events.subscribe(), self.snapshot(&stats))
    }

    fn snapshot(&self, stats: &Stats) -> String {
        let mut routes = String::new();
        for (i, (route, row)) in stats.routes.iter().enumerate() {
            if i > 0 {
                routes.push(',');
            }
            let _ = write!(routes, "{}:{}", json_string(route), row.json());
        }
        let recent: Vec<&str> = stats.recent.iter().map(String::as_str).collect();
        let series: Vec<String> = stats
            .series
            .iter()
            .map(|(t, sent, saved)| format!("[{t},{sent},{saved}]"))
            .collect();
        format!(
            "{{\"seq\":{},\"now\":{},\"window\":{SERIES},\"routes\":{{{routes}}},\"totals\":{},\
             \"recent\":[{}],\"series\":[{}]}}",
            stats.seq,
            self.now(),
            stats.totals.json(),
            recent.join(","),
            series.join(",")
        )
    }
}

/// What the terminal line and the page say about one response.
struct Line {
    method: String,
    path: String,
    status: StatusCode,
    etag: Option<String>,
    action: String,
    sent: Option<u64>,
    saved: Option<u64>,
}

impl Line {
    fn terminal(&self) -> String {
        format!(
            "{} {} {} etag={} {} sent={} saved={}",
            self.method,
            self.path,
            self.status.as_u16(),
            self.etag.as_deref().unwrap_or("-"),
            self.action,
            self.sent.map_or("?".to_owned(), |bytes| bytes.to_string()),
            self.saved.map_or("-".to_owned(), |bytes| bytes.to_string()),
        )
    }

    fn json(&self, route: &str) -> String {
        let number = |n: Option<u64>| n.map_or("null".to_owned(), |n| n.to_string());
        format!(
            "{{\"method\":{},\"path\":{},\"route\":{},\"status\":{},\"etag\":{},\"action\":{},\
             \"sent\":{},\"saved\":{}}}",
            json_string(&self.method),
            json_string(&self.path),
            json_string(route),
            self.status.as_u16(),
            self.etag.as_deref().map_or("null".to_owned(), json_string),
            json_string(&self.action),
            number(self.sent),
            number(self.saved)
        )
    }
}

/// The outer middleware: reads the [`Outcome`] the layer left on the
/// response, prints the terminal line and counts it.
pub async fn observe(State(live): State<Arc<Live>>, request: Request, next: Next) -> Response {
    let method = printable(request.method().as_str().as_bytes(), 16);
    let path = printable(request.uri().path().as_bytes(), 120);
    // Keyed by the router's pattern, never the client's bytes: the map
    // cannot grow past the routes the demo has.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|matched| live.routes.iter().find(|r| **r == matched.as_str()))
        .copied()
        .unwrap_or(if request.uri().path() == live.feed {
            live.feed
        } else {
            UNROUTED
        });
    let mut response = next.run(request).await;

    let outcome = response.extensions().get::<Outcome>().copied();
    let (action, sent, saved) = match outcome {
        Some(outcome) => (
            outcome.action.to_string(),
            outcome.body_length,
            outcome.not_sent,
        ),
        None => (
            "no outcome".to_owned(),
            response.body().size_hint().exact(),
            None,
        ),
    };
    let line = Line {
        method,
        path,
        status: response.status(),
        etag: response
            .headers()
            .get(ETAG)
            .map(|tag| printable(tag.as_bytes(), 80)),
        action,
        sent,
        saved,
    };
    println!("{}", line.terminal());
    if outcome.is_some_and(|outcome| outcome.action == Action::NotModified) {
        // So the page's own revalidation can show what its 304 saved.
        if let Some(bytes) = saved {
            response
                .headers_mut()
                .insert("x-demo-not-sent", HeaderValue::from(bytes));
        }
    }
    // The page's feed is not counted: each page that opens it would add to
    // the table it reads.
    if route != live.feed {
        live.record(route, &line);
    }
    response
}

/// `/live`: a snapshot of the counts, then one event per request.
pub async fn feed(
    State(live): State<Arc<Live>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (receiver, snapshot) = live.subscribe();
    let first = stream::once(async move { Ok(Event::default().event("snapshot").data(snapshot)) });
    let rest = stream::unfold((receiver, live), |(mut receiver, live)| async move {
        let event = match receiver.recv().await {
            Ok(event) => Event::default().event("request").data(&*event),
            // Too slow a reader: a fresh snapshot, after which the page drops
            // the events it already counts (by their sequence number).
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let snapshot = live.snapshot(&live.stats.lock().unwrap());
                Event::default().event("snapshot").data(snapshot)
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), (receiver, live)))
    });
    Sse::new(first.chain(rest)).keep_alive(KeepAlive::default())
}

/// `bytes` as printable ASCII, anything else as `\xNN`, cut at `max` bytes:
/// safe to print to a terminal and to put in a page.
pub fn printable(bytes: &[u8], max: usize) -> String {
    let mut out = String::with_capacity(bytes.len().min(max));
    for &byte in bytes.iter().take(max) {
        match byte {
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(byte as char),
            _ => {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
    if bytes.len() > max {
        out.push_str("...");
    }
    out
}

/// A JSON string literal of `text`.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            // `<` too, so that no text can close a script element.
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '<' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_control_and_non_ascii_bytes() {
        assert_eq!(
            printable(b"\"a\x1b[31m\\\xff\"", 100),
            "\"a\\x1b[31m\\\\\\xff\""
        );
        assert_eq!(printable(b"abcdef", 3), "abc...");
    }

    #[test]
    fn json_strings_escape_quotes_and_controls() {
        assert_eq!(json_string("a\"b\\c\n<"), r#""a\"b\\c\u000a\u003c""#);
    }

    #[test]
    fn a_304_counts_what_it_saved_or_that_it_is_unknown() {
        let mut row = Row::default();
        row.add(StatusCode::OK, Some(10), None);
        row.add(StatusCode::NOT_MODIFIED, Some(0), Some(10));
        row.add(StatusCode::NOT_MODIFIED, Some(0), None);
        row.add(StatusCode::PRECONDITION_FAILED, Some(0), None);
        assert_eq!(
            (row.ok, row.not_modified, row.failed, row.sent, row.saved),
            (1, 2, 1, 10, 10)
        );
        assert_eq!(row.saved_unknown, 1);
    }
}
