//! Running totals over any number of log lines. Memory grows with distinct objects, hours and
//! content types, never with the number of lines; workers keep their own and merge at the end.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use memchr::memmem;

use crate::definitions::{normalize_content_type, Definitions};
use crate::error::Error;
use crate::parse::{parse_instant, percent_decoded, Request};
use crate::releases::{self, Releases};
use crate::tally::{Outcome, Tally};

#[derive(Debug, Clone, Default)]
pub struct ObjectTally {
    pub all: Tally,
    /// Responses served as GIF.
    pub gif: Tally,
    /// Full-size (not a small variant) non-GIF images served to mobile viewers.
    pub full_size_to_mobile: Tally,
    /// Whole responses (status 200, a hit or a miss) in one of the image formats, by index in
    /// `Definitions::image_formats`: what one URL served in each format, for the savings against
    /// the original.
    pub whole_by_format: Vec<(usize, Tally)>,
}

impl ObjectTally {
    fn merge(&mut self, other: &ObjectTally) {
        self.all.merge(&other.all);
        self.gif.merge(&other.gif);
        self.full_size_to_mobile.merge(&other.full_size_to_mobile);
        for (format, tally) in &other.whole_by_format {
            self.format_tally(*format).merge(tally);
        }
    }

    fn format_tally(&mut self, format: usize) -> &mut Tally {
        let i = match self.whole_by_format.binary_search_by_key(&format, |(f, _)| *f) {
            Ok(i) => i,
            Err(i) => {
                self.whole_by_format.insert(i, (format, Tally::default()));
                i
            }
        };
        &mut self.whole_by_format[i].1
    }
}

/// What the report says about its input besides the requests themselves.
#[derive(Debug, Clone, Default)]
pub struct InputStats {
    pub files: u64,
    pub bytes_read: u64,
    pub lines: u64,
    pub requests: u64,
    pub out_of_range: u64,
    /// Files not read: their names say they hold an hour outside the time range.
    pub files_outside_range: u64,
    pub malformed: u64,
    /// The first few malformed lines by source name and line: (source, line, why).
    pub malformed_examples: Vec<(String, u64, String)>,
    /// Files (or objects) that could not be read to the end, as `source: why`.
    pub unreadable: Vec<String>,
    pub first: Option<i64>,
    pub last: Option<i64>,
}

const MAX_EXAMPLES: usize = 5;

impl InputStats {
    pub fn malformed(&mut self, source: &str, line: u64, why: &str) {
        self.malformed += 1;
        // Keep the first few by (source, line), whatever order workers read files in.
        let key = (source, line);
        let full = self.malformed_examples.len() >= MAX_EXAMPLES;
        if full && self.malformed_examples.last().is_some_and(|(s, l, _)| (s.as_str(), *l) < key) {
            return;
        }
        self.malformed_examples.push((source.to_string(), line, why.to_string()));
        self.malformed_examples.sort();
        self.malformed_examples.truncate(MAX_EXAMPLES);
    }

    pub(crate) fn merge(&mut self, other: &InputStats) {
        self.files += other.files;
        self.bytes_read = self.bytes_read.saturating_add(other.bytes_read);
        self.lines += other.lines;
        self.requests += other.requests;
        self.out_of_range += other.out_of_range;
        self.files_outside_range += other.files_outside_range;
        self.malformed += other.malformed;
        // Each side kept its smallest examples, so the smallest of the union are exact.
        self.malformed_examples.extend(other.malformed_examples.iter().cloned());
        self.malformed_examples.sort();
        self.malformed_examples.truncate(MAX_EXAMPLES);
        self.unreadable.extend(other.unreadable.iter().cloned());
        self.unreadable.sort();
        self.first = min_some(self.first, other.first);
        self.last = max_some(self.last, other.last);
    }
}

pub(crate) fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).min()
}

pub(crate) fn max_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).max()
}

/// A content type as logged, and what the definitions make of it.
#[derive(Debug, Clone)]
struct ContentClass {
    normalized: String,
    image: bool,
    gif: bool,
    /// Index in `Definitions::image_formats`.
    format: Option<usize>,
}

/// Half-open `[since, until)` in seconds since the epoch; either end may be open.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeRange {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

impl TimeRange {
    /// Whether a log file may hold requests in the range: a file whose name (or path) says which
    /// hour it holds is skipped unread when that hour is outside ([`parse::hour_of_file`]:
    /// CloudFront files late entries under the hour of the request, so nothing in range is missed).
    pub(crate) fn may_hold(&self, name: &str) -> bool {
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        crate::parse::hour_of_file(name).is_none_or(|hour| self.overlaps_hour(hour))
    }

    /// From `--since`/`--until` text (`2026-11-21`, `2026-11-21T13:05`, UTC); `since` must come
    /// first.
    pub fn parse(since: Option<&str>, until: Option<&str>) -> Result<Self, Error> {
        let range =
            TimeRange { since: since.map(parse_instant).transpose()?, until: until.map(parse_instant).transpose()? };
        match (range.since, range.until) {
            (Some(since), Some(until)) if since >= until => Err(Error::EmptyRange),
            _ => Ok(range),
        }
    }

    /// Whether the hour starting at `hour` (seconds) may hold requests in the range.
    pub fn overlaps_hour(&self, hour: i64) -> bool {
        self.since.is_none_or(|s| hour + 3600 > s) && self.until.is_none_or(|u| hour < u)
    }

    pub(crate) fn contains(&self, t: i64) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

#[derive(Debug)]
pub struct Aggregate {
    definitions: Definitions,
    range: TimeRange,
    mobile_token: memmem::Finder<'static>,
    pub input: InputStats,
    pub total: Tally,
    pub objects: HashMap<Box<str>, ObjectTally, RandomState>,
    /// By hour (seconds since the epoch / 3600).
    pub hours: HashMap<i64, Tally, RandomState>,
    pub statuses: HashMap<Option<u16>, Tally, RandomState>,
    /// By content type as logged; `by_content_type` merges spellings of the same type.
    content_classes: HashMap<Box<[u8]>, usize, RandomState>,
    content_tallies: Vec<(ContentClass, Tally)>,
    /// Per release version and cohort, from the release function's log data.
    pub releases: Releases,
}

impl Aggregate {
    pub fn new(definitions: Definitions, range: TimeRange) -> Self {
        let mobile_token = memmem::Finder::new(definitions.mobile_user_agent_token.as_bytes()).into_owned();
        Aggregate {
            definitions,
            range,
            mobile_token,
            input: InputStats::default(),
            total: Tally::default(),
            objects: HashMap::default(),
            hours: HashMap::default(),
            statuses: HashMap::default(),
            content_classes: HashMap::default(),
            content_tallies: Vec::new(),
            releases: Releases::default(),
        }
    }

    /// An empty aggregate with the same definitions and range, for another worker.
    pub fn sibling(&self) -> Self {
        Aggregate::new(self.definitions.clone(), self.range)
    }

    pub fn definitions(&self) -> &Definitions {
        &self.definitions
    }

    pub fn range(&self) -> TimeRange {
        self.range
    }

    pub fn add(&mut self, request: &Request<'_>) {
        if !self.range.contains(request.timestamp) {
            self.input.out_of_range += 1;
            return;
        }
        self.input.requests += 1;
        self.input.first = min_some(self.input.first, Some(request.timestamp));
        self.input.last = max_some(self.input.last, Some(request.timestamp));

        let outcome = match request.result_type {
            t if self.definitions.is_hit(t) => Outcome::Hit,
            t if self.definitions.is_miss(t) => Outcome::Miss,
            _ => Outcome::Other,
        };
        let bytes = request.bytes;
        self.total.add(bytes, outcome);
        self.hours.entry(request.timestamp.div_euclid(3600)).or_default().add(bytes, outcome);
        self.statuses.entry(request.status).or_default().add(bytes, outcome);
        if releases::may_be_release(request.log_data) {
            if let Some(decoded) = percent_decoded(request.log_data) {
                if let Some(routed) = releases::parse(&decoded) {
                    let mut tally = Tally::default();
                    tally.add(bytes, outcome);
                    self.releases.add(&routed, request.status, tally);
                }
            }
        }

        let class_index = self.content_class(request.content_type);
        let (class, tally) = &mut self.content_tallies[class_index];
        tally.add(bytes, outcome);
        let (image, gif, format) = (class.image, class.gif, class.format);
        let full_size_to_mobile = image
            && !gif
            && self.mobile_token.find(request.user_agent).is_some()
            && self.definitions.is_full_size(&String::from_utf8_lossy(request.uri));

        let object = match std::str::from_utf8(request.uri) {
            Ok(uri) => match self.objects.get_mut(uri) {
                Some(object) => object,
                None => self.objects.entry(uri.into()).or_default(),
            },
            Err(_) => self.objects.entry(String::from_utf8_lossy(request.uri).into()).or_default(),
        };
        object.all.add(bytes, outcome);
        if gif {
            object.gif.add(bytes, outcome);
        }
        if full_size_to_mobile {
            object.full_size_to_mobile.add(bytes, outcome);
        }
        // A whole copy of the file: status 200, served from the cache or the origin (a 200 that
        // ended in an error, e.g. the viewer went away mid-download, was not a whole copy).
        if let (Some(format), Some(200), Outcome::Hit | Outcome::Miss) = (format, request.status, outcome) {
            object.format_tally(format).add(bytes, outcome);
        }
    }

    fn content_class(&mut self, raw: &[u8]) -> usize {
        if let Some(index) = self.content_classes.get(raw) {
            return *index;
        }
        let normalized = normalize_content_type(&String::from_utf8_lossy(raw));
        let class = ContentClass {
            image: self.definitions.is_image(&normalized),
            gif: self.definitions.is_gif(&normalized),
            format: self.definitions.image_format(&normalized),
            normalized,
        };
        self.content_tallies.push((class, Tally::default()));
        let index = self.content_tallies.len() - 1;
        self.content_classes.insert(raw.into(), index);
        index
    }

    /// Requests and bytes per normalized content type.
    pub fn by_content_type(&self) -> HashMap<&str, Tally> {
        let mut merged: HashMap<&str, Tally> = HashMap::new();
        for (class, tally) in &self.content_tallies {
            merged.entry(class.normalized.as_str()).or_default().merge(tally);
        }
        merged
    }

    /// Requests and bytes per image format (index in `Definitions::image_formats`), every status.
    pub fn by_image_format(&self) -> Vec<(usize, Tally)> {
        let mut formats: Vec<(usize, Tally)> =
            (0..self.definitions.image_formats.len()).map(|i| (i, Tally::default())).collect();
        for (class, tally) in &self.content_tallies {
            if let Some(format) = class.format {
                formats[format].1.merge(tally);
            }
        }
        formats
    }

    pub fn merge(&mut self, other: Aggregate) {
        self.input.merge(&other.input);
        self.total.merge(&other.total);
        for (hour, tally) in &other.hours {
            self.hours.entry(*hour).or_default().merge(tally);
        }
        for (status, tally) in &other.statuses {
            self.statuses.entry(*status).or_default().merge(tally);
        }
        for (class, tally) in other.content_tallies {
            let raw = class.normalized.as_bytes().to_vec();
            let index = self.content_class(&raw);
            self.content_tallies[index].1.merge(&tally);
        }
        for (uri, object) in other.objects {
            self.objects.entry(uri).or_default().merge(&object);
        }
        self.releases.merge(other.releases);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(uri: &'a str, result_type: &'a str, content_type: &'a str, user_agent: &'a str) -> Request<'a> {
        Request {
            timestamp: 1_795_266_309,
            bytes: 1000,
            uri: uri.as_bytes(),
            status: Some(200),
            user_agent: user_agent.as_bytes(),
            result_type: result_type.as_bytes(),
            content_type: content_type.as_bytes(),
            log_data: b"-",
            method: b"GET",
            time_taken_ms: None,
            content_len: None,
        }
    }

    fn aggregate() -> Aggregate {
        Aggregate::new(Definitions::load().unwrap(), TimeRange::default())
    }

    #[test]
    fn hit_ratio_leaves_errors_out() {
        let mut a = aggregate();
        for result in ["Hit", "RefreshHit", "Miss", "Error", "Redirect"] {
            a.add(&request("/a.jpg", result, "image/jpeg", "-"));
        }
        assert_eq!(a.total, Tally { requests: 5, bytes: 5000, hits: 2, misses: 1 });
        assert_eq!(a.total.hit_ratio(), Some(2.0 / 3.0));
        assert_eq!(Tally::default().hit_ratio(), None);
    }

    #[test]
    fn gifs_and_full_size_images_to_mobile_viewers() {
        let mut a = aggregate();
        let phone = "Mozilla/5.0%20(iPhone)%20Mobile/15E148";
        a.add(&request("/promo.gif", "Hit", "image/gif", phone));
        a.add(&request("/v/pc.jpg", "Hit", "image/jpeg", phone));
        a.add(&request(
            "/v/pc.jpg",
            "Hit",
            "image/jpeg",
            "Mozilla/5.0%20(Windows%20NT%2010.0;%20Win64)%20Chrome/131.0",
        ));
        a.add(&request("/v/mobile.jpg", "Hit", "image/jpeg", phone));
        a.add(&request("/app.js", "Hit", "text/javascript", phone));
        assert_eq!(a.objects["/promo.gif"].gif.requests, 1);
        assert_eq!(a.objects["/promo.gif"].full_size_to_mobile.requests, 0, "a GIF is listed as a GIF");
        assert_eq!(a.objects["/v/pc.jpg"].full_size_to_mobile.requests, 1);
        assert_eq!(a.objects["/v/mobile.jpg"].full_size_to_mobile.requests, 0);
        assert_eq!(a.objects["/app.js"].full_size_to_mobile.requests, 0);
    }

    #[test]
    fn content_type_spellings_merge_and_range_filters() {
        let mut a = Aggregate::new(
            Definitions::load().unwrap(),
            TimeRange { since: Some(1_795_266_309), until: Some(1_795_266_310) },
        );
        a.add(&request("/", "Miss", "text/html;%20charset=utf-8", "-"));
        a.add(&request("/", "Miss", "TEXT/HTML", "-"));
        let mut early = request("/", "Miss", "text/html", "-");
        early.timestamp -= 1;
        a.add(&early);
        assert_eq!(a.by_content_type()["text/html"].requests, 2);
        assert_eq!(a.input.out_of_range, 1);
    }

    #[test]
    fn whole_responses_by_image_format_per_object() {
        let mut a = aggregate();
        a.add(&request("/v/0123456789ab/mobile.jpg", "Hit", "image/avif", "-"));
        a.add(&request("/v/0123456789ab/mobile.jpg", "Hit", "IMAGE/WEBP", "-"));
        a.add(&request("/v/0123456789ab/mobile.jpg", "Miss", "image/avif", "-"));
        let mut not_modified = request("/v/0123456789ab/mobile.jpg", "RefreshHit", "image/avif", "-");
        not_modified.status = Some(304);
        a.add(&not_modified);
        a.add(&request("/app.js", "Hit", "text/javascript", "-"));
        let formats = a.definitions().image_formats.clone();
        let names = |i: usize| formats[i].1.clone();
        let whole: Vec<(String, u64)> = a.objects["/v/0123456789ab/mobile.jpg"]
            .whole_by_format
            .iter()
            .map(|(f, t)| (names(*f), t.requests))
            .collect();
        assert_eq!(whole, [("AVIF".to_string(), 2), ("WebP".to_string(), 1)], "only status 200, best format first");
        a.add(&request("/v/0123456789ab/mobile.jpg", "Error", "image/avif", "-"));
        let avif = a.objects["/v/0123456789ab/mobile.jpg"].whole_by_format[0].1.requests;
        assert_eq!(avif, 2, "a 200 that ended in an error is not a whole copy");
        assert!(a.objects["/app.js"].whole_by_format.is_empty());
        let by_format: Vec<(String, u64)> = a
            .by_image_format()
            .into_iter()
            .filter(|(_, t)| t.requests > 0)
            .map(|(f, t)| (names(f), t.requests))
            .collect();
        assert_eq!(by_format, [("AVIF".to_string(), 4), ("WebP".to_string(), 1)], "every status and outcome");
    }

    #[test]
    fn merging_workers_equals_one_pass() {
        let requests = [
            request("/a.jpg", "Hit", "image/jpeg", "Mobile"),
            request("/b.gif", "Miss", "image/gif", "-"),
            request("/a.jpg", "Miss", "IMAGE/JPEG", "-"),
        ];
        let mut one = aggregate();
        requests.iter().for_each(|r| one.add(r));
        let mut left = aggregate();
        let mut right = left.sibling();
        left.add(&requests[0]);
        right.add(&requests[1]);
        right.add(&requests[2]);
        left.merge(right);
        assert_eq!(left.total, one.total);
        assert_eq!(left.by_content_type(), one.by_content_type());
        assert_eq!(left.objects["/a.jpg"].all, one.objects["/a.jpg"].all);
        assert_eq!(left.hours, one.hours);
        assert_eq!(left.input.requests, 3);
    }
}
