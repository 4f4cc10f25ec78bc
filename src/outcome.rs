//! What the layer did with one exchange: the [`Outcome`] it puts in a
//! response's extensions when asked to
//! ([`ConditionalLayer::record_outcomes`](crate::ConditionalLayer::record_outcomes)),
//! and, with the `tracing` feature, logs.
//!
//! The values are made of what the layer decided, never of what the client
//! sent: nothing a request carries (a hostile `If-None-Match`, say) is
//! copied into them.

use std::fmt;

use http::{Response, StatusCode};
use http_body::Body;

/// What the layer did with one request and its response.
///
/// With [`ConditionalLayer::record_outcomes`](crate::ConditionalLayer::record_outcomes)
/// every response the layer handled carries one in its extensions, for an
/// outer layer (a `TraceLayer`'s `on_response`, a metrics layer) or a test
/// to read. The fields are public to read; the type is `non_exhaustive`, so
/// later versions may add to it.
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response, StatusCode};
/// use tower::{service_fn, Layer, ServiceExt};
/// use tower_conditional::{Action, ConditionalLayer, Outcome, ValidatorSource};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let service = ConditionalLayer::new().record_outcomes(true).layer(service_fn(
///     |_: Request<()>| async {
///         Ok::<_, Infallible>(Response::new(http_body_util::Full::new(bytes::Bytes::from("hello"))))
///     },
/// ));
///
/// let first = service.clone().oneshot(Request::new(())).await.unwrap();
/// let outcome = first.extensions().get::<Outcome>().unwrap();
/// assert_eq!(outcome.action, Action::Sent);
/// assert_eq!(outcome.validators, ValidatorSource::Body);
/// assert_eq!(outcome.body_length, Some(5));
///
/// let etag = first.headers()["etag"].clone();
/// let again = Request::builder().header("if-none-match", etag).body(()).unwrap();
/// let second = service.oneshot(again).await.unwrap();
/// assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
/// let outcome = second.extensions().get::<Outcome>().unwrap();
/// assert_eq!(outcome.action, Action::NotModified);
/// assert_eq!(outcome.not_sent, Some(5), "the 5 bytes of the body stayed home");
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outcome {
    /// What the client got, or why the layer left the response alone.
    pub action: Action,
    /// Where the validators the response carries (or was judged by) came
    /// from.
    pub validators: ValidatorSource,
    /// The bytes of content this response carries, when known: the body of
    /// a `200`, the selected bytes of a `206`, `0` for a `304`, `412`, `416`
    /// or `503` and for any answer to a HEAD. `None` for a body the layer
    /// did not read and whose length it cannot tell (a stream).
    pub body_length: Option<u64>,
    /// For a `304`, the length of the body it replaced, when known (the
    /// layer read it, or the handler's body stated its exact length):
    /// the bytes the conditional request saved. `None` otherwise.
    pub not_sent: Option<u64>,
    /// The entity-tag came from the memo of recent bodies, sparing the hash
    /// ([`ConditionalLayer::remember_recent_bodies`](crate::ConditionalLayer::remember_recent_bodies)).
    pub remembered: bool,
    /// The layer evaluated the request's preconditions (RFC 9110 §13.2.2):
    /// it carried some, and the layer decided them, against the response's
    /// validators or the looked-up ones. A validator that is missing is one
    /// no tag or date matches, so `If-Match: "a"` fails and
    /// `If-None-Match: "a"` holds, while `*` asks only whether there is a
    /// current representation (§13.1.1, §13.1.2); a lookup's missing
    /// resource has none. A `200` with `evaluated` set is a conditional
    /// request its conditions let through: an `If-None-Match` that matched
    /// no current tag (the client's copy is out of date, or has nothing to
    /// be checked against), or an `If-Match` that did.
    ///
    /// Not set where the layer left the preconditions to the inner service
    /// or could not decide them: a response passed through for the method,
    /// its status, a `Bypass`, `no-store`, a stream, `hash_when` or a body
    /// error; a success other than `200` without validators; an empty
    /// answer to a HEAD without an `ETag`, when its `Last-Modified` cannot
    /// decide; a lookup that failed. A body too long to hash is still
    /// judged by the validators it has, so a `PassedThrough` for its size
    /// can have `evaluated` set.
    pub evaluated: bool,
    /// The answer was decided from looked-up validators before the handler
    /// ran ([`ConditionalLayer::lookup_validators`](crate::ConditionalLayer::lookup_validators)).
    pub before_handler: bool,
}

/// What the client got from the layer: [`Outcome::action`].
///
/// ```
/// use tower_conditional::Action;
///
/// // Short, stable names for logs and metric labels.
/// assert_eq!(Action::NotModified.as_str(), "not_modified");
/// assert_eq!(Action::Sent.to_string(), "sent");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// The response went on as the handler made it (a HEAD's without its
    /// body), with the validators [`Outcome::validators`] names.
    Sent,
    /// `304 Not Modified` in place of the response (RFC 9110 §15.4.5).
    NotModified,
    /// `412 Precondition Failed` (RFC 9110 §15.5.13).
    PreconditionFailed,
    /// `206 Partial Content`, sliced by the layer from the body it held.
    PartialContent,
    /// `416 Range Not Satisfiable`, for a body the layer held.
    RangeNotSatisfiable,
    /// `503 Service Unavailable`: the lookup failed and a write asked for a
    /// check that could not be made.
    Unavailable,
    /// The layer added no validator; the reason says why. Nothing was
    /// evaluated, except for a body too long to hash, whose preconditions
    /// are still judged by the validators it has ([`Outcome::evaluated`]).
    PassedThrough(PassReason),
}

impl Action {
    /// A short name: `sent`, `not_modified`, `precondition_failed`,
    /// `partial_content`, `range_not_satisfiable`, `unavailable` or
    /// `passed_through`.
    ///
    /// ```
    /// use tower_conditional::{Action, PassReason};
    ///
    /// assert_eq!(Action::PassedThrough(PassReason::NoStore).as_str(), "passed_through");
    /// ```
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Sent => "sent",
            Action::NotModified => "not_modified",
            Action::PreconditionFailed => "precondition_failed",
            Action::PartialContent => "partial_content",
            Action::RangeNotSatisfiable => "range_not_satisfiable",
            Action::Unavailable => "unavailable",
            Action::PassedThrough(_) => "passed_through",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::PassedThrough(reason) => write!(f, "passed_through({reason})"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// Why a response was passed through with no validator of the layer's:
/// the reasons a route gets no `ETag` and no `304`.
///
/// ```
/// use tower_conditional::PassReason;
///
/// assert_eq!(PassReason::OverLimit.as_str(), "over_limit");
/// assert!(PassReason::NoStore.describe().contains("no-store"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PassReason {
    /// The method is not GET or HEAD, and the request had no precondition a
    /// lookup could decide.
    Method,
    /// The status is not `200` (nor a success the handler's own validators
    /// describe).
    Status,
    /// The request or the response was marked [`Bypass`](crate::Bypass).
    Bypass,
    /// The response says `Cache-Control: no-store`.
    NoStore,
    /// The response is a stream (server-sent events, gRPC, NDJSON, …),
    /// passed on as it comes.
    Streaming,
    /// The predicate given to
    /// [`ConditionalLayer::hash_when`](crate::ConditionalLayer::hash_when)
    /// said not to hash it.
    HashWhen,
    /// The body outgrew
    /// [`max_hashed_body_size`](crate::ConditionalLayer::max_hashed_body_size)
    /// while it was read; it went on untagged after what was read.
    OverLimit,
    /// The body announced (by `Content-Length` or its size hint) more than
    /// the limit, so it was not read.
    AnnouncedOverLimit,
    /// An empty answer to a HEAD, which the layer cannot tell from a body
    /// stripped on the way (see [`HeadRequests`](crate::HeadRequests)).
    EmptyHead,
    /// The body failed while it was read; the client gets what was read,
    /// then the error.
    BodyError,
}

impl PassReason {
    /// A short name for logs and metric labels, such as `no_store`.
    ///
    /// ```
    /// assert_eq!(tower_conditional::PassReason::Streaming.as_str(), "streaming");
    /// ```
    pub fn as_str(&self) -> &'static str {
        match self {
            PassReason::Method => "method",
            PassReason::Status => "status",
            PassReason::Bypass => "bypass",
            PassReason::NoStore => "no_store",
            PassReason::Streaming => "streaming",
            PassReason::HashWhen => "hash_when",
            PassReason::OverLimit => "over_limit",
            PassReason::AnnouncedOverLimit => "announced_over_limit",
            PassReason::EmptyHead => "empty_head",
            PassReason::BodyError => "body_error",
        }
    }

    /// One sentence that says why, for a log line or a page.
    ///
    /// ```
    /// use tower_conditional::PassReason;
    ///
    /// println!("no ETag: {}", PassReason::AnnouncedOverLimit.describe());
    /// ```
    pub fn describe(&self) -> &'static str {
        match self {
            PassReason::Method => "the method is not GET or HEAD",
            PassReason::Status => "the status is not 200 and the handler set no validator",
            PassReason::Bypass => "the request or response is marked Bypass",
            PassReason::NoStore => "the response says Cache-Control: no-store",
            PassReason::Streaming => "the content type is a stream, passed on as it comes",
            PassReason::HashWhen => "the hash_when predicate declined it",
            PassReason::OverLimit => "the body outgrew max_hashed_body_size while it was read",
            PassReason::AnnouncedOverLimit => "the body announced more than max_hashed_body_size",
            PassReason::EmptyHead => "an empty HEAD answer, which may be a stripped body",
            PassReason::BodyError => "the body failed while it was read",
        }
    }
}

impl fmt::Display for PassReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a response's validators came from: [`Outcome::validators`].
///
/// ```
/// use tower_conditional::ValidatorSource;
///
/// assert_eq!(ValidatorSource::Body.as_str(), "body");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValidatorSource {
    /// The layer computed the `ETag` from the body.
    Body,
    /// The handler's own `ETag` or `Last-Modified`, kept as they were.
    Handler,
    /// The validators a lookup found before the handler ran.
    Lookup,
    /// None: the response has no validator the layer knows of.
    None,
}

impl ValidatorSource {
    /// A short name: `body`, `handler`, `lookup` or `none`.
    ///
    /// ```
    /// assert_eq!(tower_conditional::ValidatorSource::Lookup.as_str(), "lookup");
    /// ```
    pub fn as_str(&self) -> &'static str {
        match self {
            ValidatorSource::Body => "body",
            ValidatorSource::Handler => "handler",
            ValidatorSource::Lookup => "lookup",
            ValidatorSource::None => "none",
        }
    }
}

impl fmt::Display for ValidatorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Outcome {
    /// An answer the layer's rules gave, from its status.
    pub(crate) fn answered(status: StatusCode, validators: ValidatorSource) -> Self {
        let action = match status {
            StatusCode::NOT_MODIFIED => Action::NotModified,
            StatusCode::PRECONDITION_FAILED => Action::PreconditionFailed,
            StatusCode::SERVICE_UNAVAILABLE => Action::Unavailable,
            _ => Action::Sent,
        };
        Self {
            action,
            validators,
            body_length: None,
            not_sent: None,
            remembered: false,
            evaluated: false,
            before_handler: false,
        }
    }

    /// A response passed on with nothing added.
    pub(crate) fn passed(reason: PassReason) -> Self {
        Self {
            action: Action::PassedThrough(reason),
            ..Self::answered(StatusCode::OK, ValidatorSource::None)
        }
    }

    /// One sentence that says what the layer did and why, for a log line.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response};
    /// use tower::{service_fn, Layer, ServiceExt};
    /// use tower_conditional::{ConditionalLayer, Outcome};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let service = ConditionalLayer::new().record_outcomes(true).layer(service_fn(
    ///     |_: Request<()>| async {
    ///         let response = Response::builder()
    ///             .header("cache-control", "no-store")
    ///             .body(http_body_util::Full::new(bytes::Bytes::from("secret")))
    ///             .unwrap();
    ///         Ok::<_, Infallible>(response)
    ///     },
    /// ));
    /// let response = service.oneshot(Request::new(())).await.unwrap();
    /// let outcome = response.extensions().get::<Outcome>().unwrap();
    /// assert_eq!(
    ///     outcome.describe(),
    ///     "passed through: the response says Cache-Control: no-store"
    /// );
    /// # }
    /// ```
    pub fn describe(&self) -> String {
        let before = if self.before_handler {
            ", before the handler ran"
        } else {
            ""
        };
        match self.action {
            Action::PassedThrough(reason) => format!("passed through: {}", reason.describe()),
            Action::Sent if self.evaluated && self.validators == ValidatorSource::None => {
                "sent without validators: the request's conditions let it through".to_owned()
            }
            Action::Sent if self.evaluated => format!(
                "sent, validators from {}: the request's conditions let it through",
                self.validators
            ),
            Action::Sent if self.validators == ValidatorSource::None => {
                "sent without validators".to_owned()
            }
            Action::Sent => format!(
                "sent, validators from {}: the request had no condition to evaluate",
                self.validators
            ),
            // Only `If-None-Match: *` gets a 304 without a validator.
            Action::NotModified if self.validators == ValidatorSource::None => {
                format!("304: the client asked whether there is a current representation, and there is{before}")
            }
            Action::NotModified => format!(
                "304: the client's copy matches the validators from {}{before}",
                self.validators
            ),
            // Before the handler, no validator is a missing resource.
            Action::PreconditionFailed
                if self.validators == ValidatorSource::None && self.before_handler =>
            {
                "412: the request's condition fails against a missing resource, before the handler ran"
                    .to_owned()
            }
            Action::PreconditionFailed if self.validators == ValidatorSource::None => {
                "412: the request's condition fails against a response without validators"
                    .to_owned()
            }
            Action::PreconditionFailed => format!(
                "412: the request's condition fails against the validators from {}{before}",
                self.validators
            ),
            Action::PartialContent => "206: the range was sliced from the held body".to_owned(),
            Action::RangeNotSatisfiable => "416: no range overlaps the held body".to_owned(),
            Action::Unavailable => {
                "503: the lookup failed, and the write asked for a check".to_owned()
            }
        }
    }
}

/// Whether an outcome is wanted for a response: in its extensions, or (with
/// the `tracing` feature) for an event a subscriber would take. What only
/// the outcome needs is gathered only when this holds.
#[inline(always)]
pub(crate) fn observed(record_outcomes: bool) -> bool {
    #[cfg(feature = "tracing")]
    if tracing::enabled!(target: "tower_conditional", tracing::Level::DEBUG) {
        return true;
    }
    record_outcomes
}

/// Records the outcome `outcome` builds on `response`, as the layer's
/// settings ask: in its extensions, and with the `tracing` feature as an
/// event. It is built only when one of them wants it; its `body_length` is
/// read from the outgoing body.
#[inline(always)]
pub(crate) fn record<B: Body>(
    mut response: Response<B>,
    record_outcomes: bool,
    outcome: impl FnOnce(&Response<B>) -> Outcome,
) -> Response<B> {
    if observed(record_outcomes) {
        record_with(&mut response, record_outcomes, outcome);
    }
    response
}

/// Out of the way of the response that records nothing.
#[inline(never)]
fn record_with<B: Body>(
    response: &mut Response<B>,
    record_outcomes: bool,
    outcome: impl FnOnce(&Response<B>) -> Outcome,
) {
    let mut outcome = outcome(response);
    // The empty body of a 304 or a HEAD answer does not say "exactly 0" (a
    // server would then write `Content-Length: 0`), but it is.
    let body = response.body();
    outcome.body_length = if body.is_end_stream() {
        Some(0)
    } else {
        body.size_hint().exact()
    };
    #[cfg(feature = "tracing")]
    trace(&outcome, response.status());
    if record_outcomes {
        response.extensions_mut().insert(outcome);
    }
}

/// One event per decision, at `DEBUG` under the `tower_conditional` target,
/// as tower-http's layers log theirs; inside a `TraceLayer` it lands in the
/// request's span, which names the method and URI.
#[cfg(feature = "tracing")]
fn trace(outcome: &Outcome, status: StatusCode) {
    let reason = match outcome.action {
        Action::PassedThrough(reason) => Some(reason.as_str()),
        _ => None,
    };
    tracing::debug!(
        target: "tower_conditional",
        status = status.as_u16(),
        action = outcome.action.as_str(),
        reason,
        validators = outcome.validators.as_str(),
        body_length = outcome.body_length,
        not_sent = outcome.not_sent,
        remembered = outcome.remembered,
        evaluated = outcome.evaluated,
        before_handler = outcome.before_handler,
        "{}",
        outcome.describe(),
    );
}

#[cfg(test)]
mod names {
    use super::*;

    const REASONS: [PassReason; 10] = [
        PassReason::Method,
        PassReason::Status,
        PassReason::Bypass,
        PassReason::NoStore,
        PassReason::Streaming,
        PassReason::HashWhen,
        PassReason::OverLimit,
        PassReason::AnnouncedOverLimit,
        PassReason::EmptyHead,
        PassReason::BodyError,
    ];

    fn distinct_labels(labels: &[&str]) {
        let mut seen = std::collections::HashSet::new();
        for label in labels {
            assert!(!label.is_empty(), "{labels:?}");
            assert!(
                label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "a metric label: {label}"
            );
            assert!(seen.insert(*label), "{label} twice");
        }
    }

    #[test]
    fn every_name_is_a_distinct_label() {
        distinct_labels(&REASONS.map(|reason| reason.as_str()));
        let actions = [
            Action::Sent,
            Action::NotModified,
            Action::PreconditionFailed,
            Action::PartialContent,
            Action::RangeNotSatisfiable,
            Action::Unavailable,
            Action::PassedThrough(PassReason::Method),
        ];
        distinct_labels(&actions.map(|action| action.as_str()));
        let sources = [
            ValidatorSource::Body,
            ValidatorSource::Handler,
            ValidatorSource::Lookup,
            ValidatorSource::None,
        ];
        distinct_labels(&sources.map(|source| source.as_str()));
        let sentences: std::collections::HashSet<_> =
            REASONS.iter().map(|reason| reason.describe()).collect();
        assert_eq!(sentences.len(), REASONS.len());
        assert_eq!(
            Action::PassedThrough(PassReason::NoStore).to_string(),
            "passed_through(no_store)"
        );
    }

    #[test]
    fn the_sentence_follows_the_fields() {
        let sent = Outcome::answered(StatusCode::OK, ValidatorSource::Body);
        assert_eq!(sent.action, Action::Sent);
        assert_eq!(
            sent.describe(),
            "sent, validators from body: the request had no condition to evaluate"
        );
        let stale = Outcome {
            evaluated: true,
            ..sent
        };
        assert_eq!(
            stale.describe(),
            "sent, validators from body: the request's conditions let it through"
        );
        let bare = Outcome::answered(StatusCode::OK, ValidatorSource::None);
        assert_eq!(bare.describe(), "sent without validators");
        let early = Outcome {
            before_handler: true,
            ..Outcome::answered(StatusCode::NOT_MODIFIED, ValidatorSource::Lookup)
        };
        assert_eq!(early.action, Action::NotModified);
        assert_eq!(
            early.describe(),
            "304: the client's copy matches the validators from lookup, before the handler ran"
        );
        let failed = Outcome::answered(StatusCode::PRECONDITION_FAILED, ValidatorSource::Handler);
        assert_eq!(failed.action, Action::PreconditionFailed);
        assert!(failed.describe().starts_with("412: "));
        // Evaluated without a validator: `*`, a tag nothing matches, or a
        // missing resource.
        let judged = |status, before_handler| Outcome {
            evaluated: true,
            before_handler,
            ..Outcome::answered(status, ValidatorSource::None)
        };
        assert_eq!(
            judged(StatusCode::OK, false).describe(),
            "sent without validators: the request's conditions let it through"
        );
        assert_eq!(
            judged(StatusCode::NOT_MODIFIED, false).describe(),
            "304: the client asked whether there is a current representation, and there is"
        );
        assert_eq!(
            judged(StatusCode::PRECONDITION_FAILED, false).describe(),
            "412: the request's condition fails against a response without validators"
        );
        assert_eq!(
            judged(StatusCode::PRECONDITION_FAILED, true).describe(),
            "412: the request's condition fails against a missing resource, before the handler ran"
        );
        assert_eq!(
            Outcome::answered(StatusCode::SERVICE_UNAVAILABLE, ValidatorSource::None).action,
            Action::Unavailable
        );
        let passed = Outcome::passed(PassReason::OverLimit);
        assert_eq!(passed.action, Action::PassedThrough(PassReason::OverLimit));
        assert_eq!(passed.validators, ValidatorSource::None);
        assert_eq!(
            passed.describe(),
            "passed through: the body outgrew max_hashed_body_size while it was read"
        );
    }
}

#[cfg(all(test, feature = "tracing"))]
mod tests {
    use std::convert::Infallible;
    use std::fmt::Debug;
    use std::sync::{Arc, Mutex};

    use http::Request;
    use tower::{service_fn, Layer, ServiceExt};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    /// Keeps every event as `target level field=value ...`.
    #[derive(Clone, Default)]
    struct Events(Arc<Mutex<Vec<String>>>);

    struct Fields(String);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
            self.0.push_str(&format!(" {}={:?}", field.name(), value));
        }
    }

    impl Subscriber for Events {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let metadata = event.metadata();
            let mut fields = Fields(format!("{} {}", metadata.target(), metadata.level()));
            event.record(&mut fields);
            self.0.lock().unwrap().push(fields.0);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[tokio::test(flavor = "current_thread")]
    async fn one_debug_event_per_decision_with_the_outcome() {
        let events = Events::default();
        let _guard = tracing::subscriber::set_default(events.clone());
        // Not recorded in the extensions: the event is enough on its own.
        let service = crate::ConditionalLayer::new().layer(service_fn(|_: Request<()>| async {
            let response = http::Response::builder()
                .header("cache-control", "no-store")
                .body(http_body_util::Full::new(bytes::Bytes::from("secret")))
                .unwrap();
            Ok::<_, Infallible>(response)
        }));
        let response = service.oneshot(Request::new(())).await.unwrap();
        assert!(response.extensions().get::<super::Outcome>().is_none());
        let events = events.0.lock().unwrap().clone();
        assert_eq!(events.len(), 1, "{events:?}");
        let event = &events[0];
        assert!(event.starts_with("tower_conditional DEBUG"), "{event}");
        for field in [
            "status=200",
            "action=\"passed_through\"",
            "reason=\"no_store\"",
            "validators=\"none\"",
            "body_length=6",
            "message=passed through: the response says Cache-Control: no-store",
        ] {
            assert!(event.contains(field), "{field} in {event}");
        }
    }
}
