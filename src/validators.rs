//! The validators of a representation (RFC 9110 §8.8): what a request's
//! preconditions are evaluated against, as the body's hash, the handler or a
//! lookup gives them, and the fields a `304` made from a lookup repeats.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::entity_tag::EntityTag;

/// The validators of the selected representation: what a precondition is
/// compared against (RFC 9110 §8.8).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use tower_conditional::{EntityTag, Validators};
///
/// let current = Validators::new()
///     .with_etag(EntityTag::strong("rev-3").unwrap())
///     .with_last_modified(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
/// assert_eq!(current.etag().unwrap().opaque(), "rev-3");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    etag: Option<EntityTag>,
    last_modified: Option<SystemTime>,
    // Boxed: validators travel with every request's future, and only a
    // lookup that answers 304s before the handler needs these.
    not_modified_headers: Option<Box<HeaderMap>>,
}

impl Validators {
    /// Validators with neither an entity-tag nor a modification date.
    ///
    /// ```
    /// use tower_conditional::Validators;
    ///
    /// let none = Validators::new();
    /// assert!(none.etag().is_none() && none.last_modified().is_none());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the current entity-tag.
    ///
    /// ```
    /// use tower_conditional::{EntityTag, Validators};
    ///
    /// let current = Validators::new().with_etag(EntityTag::strong("rev-3").unwrap());
    /// assert_eq!(current.etag().unwrap().to_string(), "\"rev-3\"");
    /// ```
    pub fn with_etag(mut self, etag: EntityTag) -> Self {
        self.etag = Some(etag);
        self
    }

    /// Sets the last modification time. Sub-second precision is ignored when
    /// comparing, as HTTP-dates have whole seconds.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use tower_conditional::Validators;
    ///
    /// let modified = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    /// let current = Validators::new().with_last_modified(modified);
    /// assert_eq!(current.last_modified(), Some(modified));
    /// ```
    pub fn with_last_modified(mut self, last_modified: SystemTime) -> Self {
        self.last_modified = Some(last_modified);
        self
    }

    /// Adds a field that a `200` to the request would carry and that a `304`
    /// answered from these validators before the handler runs must therefore
    /// repeat (RFC 9110 §15.4.5): `Cache-Control`, `Content-Location`,
    /// `Expires` and `Vary`. A name may be added more than once (two `Vary`
    /// lines, say). Fields that describe a body (`Content-Type`,
    /// `Content-Length`, …) are left off the `304`, as on one made from the
    /// handler's answer. The handler's own responses are not changed.
    ///
    /// ```
    /// use http::header::{CACHE_CONTROL, VARY};
    /// use http::HeaderValue;
    /// use tower_conditional::{EntityTag, Validators};
    ///
    /// let current = Validators::new()
    ///     .with_etag(EntityTag::strong("rev-3").unwrap())
    ///     .with_not_modified_header(CACHE_CONTROL, HeaderValue::from_static("max-age=60"))
    ///     .with_not_modified_header(VARY, HeaderValue::from_static("accept-language"));
    /// assert_eq!(current.not_modified_headers().unwrap().len(), 2);
    /// ```
    pub fn with_not_modified_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.not_modified_headers
            .get_or_insert_with(Default::default)
            .append(name, value);
        self
    }

    /// The fields added with [`with_not_modified_header`](Self::with_not_modified_header), if any.
    ///
    /// ```
    /// use http::header::VARY;
    /// use http::HeaderValue;
    /// use tower_conditional::Validators;
    ///
    /// assert!(Validators::new().not_modified_headers().is_none());
    /// let current = Validators::new().with_not_modified_header(VARY, HeaderValue::from_static("cookie"));
    /// assert_eq!(current.not_modified_headers().unwrap()[VARY], "cookie");
    /// ```
    pub fn not_modified_headers(&self) -> Option<&HeaderMap> {
        self.not_modified_headers.as_deref()
    }

    /// The current entity-tag, if any.
    ///
    /// ```
    /// use tower_conditional::{EntityTag, Validators};
    ///
    /// assert!(Validators::new().etag().is_none());
    /// let tag = EntityTag::weak("7").unwrap();
    /// assert_eq!(Validators::new().with_etag(tag.clone()).etag(), Some(&tag));
    /// ```
    pub fn etag(&self) -> Option<&EntityTag> {
        self.etag.as_ref()
    }

    /// The last modification time, if any.
    ///
    /// ```
    /// use std::time::UNIX_EPOCH;
    /// use tower_conditional::Validators;
    ///
    /// assert_eq!(Validators::new().last_modified(), None);
    /// assert_eq!(Validators::new().with_last_modified(UNIX_EPOCH).last_modified(), Some(UNIX_EPOCH));
    /// ```
    pub fn last_modified(&self) -> Option<SystemTime> {
        self.last_modified
    }

    /// The last modification time as an HTTP-date header value, when it can
    /// be written as one (years 1970 to 9998).
    pub(crate) fn last_modified_header(&self) -> Option<HeaderValue> {
        let seconds = whole_seconds(self.last_modified?)?;
        // httpdate cannot format year 9999 and later.
        const YEAR_9999: u64 = 253_370_764_800;
        if seconds >= YEAR_9999 {
            return None;
        }
        let date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(seconds));
        HeaderValue::from_str(&date).ok()
    }
}

/// Seconds since the epoch, as HTTP-dates count them (whole seconds);
/// `None` for times before it.
pub(crate) fn whole_seconds(time: SystemTime) -> Option<u64> {
    time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

    fn t0() -> SystemTime {
        httpdate::parse_http_date(T0).unwrap()
    }

    #[test]
    fn last_modified_header_is_formatted_in_range_only() {
        let in_range = Validators::new().with_last_modified(t0() + Duration::from_millis(500));
        assert_eq!(in_range.last_modified_header().unwrap(), T0);
        let before_epoch =
            Validators::new().with_last_modified(UNIX_EPOCH - Duration::from_secs(1));
        assert!(before_epoch.last_modified_header().is_none());
        let far =
            Validators::new().with_last_modified(UNIX_EPOCH + Duration::from_secs(300_000_000_000));
        assert!(far.last_modified_header().is_none());
    }
}
