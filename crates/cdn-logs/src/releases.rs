//! Release health from the access logs: requests, errors and cache hits per release version and
//! per cohort. The logs keep the URL the viewer asked for (`/sdk/sdk.js`), not the version the
//! edge function chose, so the function says what it chose in the request's log data
//! (`viewer-request-log-data`, standard logging v2): `release=<channel>;kind=<kind>;
//! version=<version>;cohort=<n>`, URL-encoded by CloudFront.

use std::collections::{BTreeSet, HashMap};

use foldhash::fast::RandomState;

use crate::aggregate::Tally;

/// What one routed request was served, from its log data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    pub channel: String,
    pub kind: String,
    pub version: String,
    pub cohort: u32,
}

/// Percent-decoding (CloudFront URL-encodes log data); `None` for a broken escape.
fn percent_decoded(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            let text = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(text, 16).ok()?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The release function's record, or `None` for anything else (other functions' data, `-`).
pub fn parse(log_data: &[u8]) -> Option<Routed> {
    if !(log_data.starts_with(b"release=")
        || log_data.starts_with(b"release%3D")
        || log_data.starts_with(b"release%3d"))
    {
        return None;
    }
    let decoded = percent_decoded(log_data)?;
    let text = std::str::from_utf8(&decoded).ok()?;
    // Exactly what the function writes, in its order (the Athena query's pattern is the same).
    let mut parts = text.split(';');
    let mut field = |key: &str| parts.next().and_then(|p| p.strip_prefix(key)).and_then(|p| p.strip_prefix('='));
    let name_like = |v: &&str| {
        !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
    };
    let channel = field("release").filter(name_like)?;
    let kind = field("kind").filter(|k| *k == "canary" || *k == "stable")?;
    let version = field("version").filter(name_like)?;
    let cohort = field("cohort").filter(|c| (1..=5).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit()))?;
    if parts.next().is_some() {
        return None;
    }
    Some(Routed { channel: channel.into(), kind: kind.into(), version: version.into(), cohort: cohort.parse().ok()? })
}

/// Requests of a version or a cohort, with their errors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    pub all: Tally,
    /// Responses 400–499 (a file missing from a version shows here).
    pub client_errors: u64,
    /// Responses 500 and above.
    pub server_errors: u64,
}

impl Health {
    pub(crate) fn add(&mut self, status: Option<u16>, tally: Tally) {
        self.all.merge(&tally);
        self.client_errors += u64::from(status.is_some_and(|s| (400..500).contains(&s)));
        self.server_errors += u64::from(status.is_some_and(|s| s >= 500));
    }

    fn merge(&mut self, other: &Health) {
        self.all.merge(&other.all);
        self.client_errors += other.client_errors;
        self.server_errors += other.server_errors;
    }

    /// Errors (4xx and 5xx) over requests.
    pub fn error_ratio(&self) -> Option<f64> {
        (self.all.requests > 0).then(|| (self.client_errors + self.server_errors) as f64 / self.all.requests as f64)
    }
}

/// At most this many versions are listed per cohort (a cohort sees a new one at each change).
const MAX_VERSIONS_PER_COHORT: usize = 8;

#[derive(Debug, Clone, Default)]
pub struct CohortHealth {
    pub health: Health,
    pub versions: BTreeSet<Box<str>>,
}

/// (channel, kind, version).
pub type VersionKey = (Box<str>, Box<str>, Box<str>);

/// Release health by (channel, kind, version) and by (channel, cohort).
#[derive(Debug, Clone, Default)]
pub struct Releases {
    pub versions: HashMap<VersionKey, Health, RandomState>,
    pub cohorts: HashMap<(Box<str>, u32), CohortHealth, RandomState>,
}

impl Releases {
    pub(crate) fn add(&mut self, routed: Routed, status: Option<u16>, tally: Tally) {
        let cohort = self.cohorts.entry((routed.channel.as_str().into(), routed.cohort)).or_default();
        cohort.health.add(status, tally);
        if cohort.versions.len() < MAX_VERSIONS_PER_COHORT {
            cohort.versions.insert(routed.version.as_str().into());
        }
        let key = (routed.channel.into(), routed.kind.into(), routed.version.into());
        self.versions.entry(key).or_default().add(status, tally);
    }

    pub(crate) fn merge(&mut self, other: Releases) {
        for (key, health) in other.versions {
            self.versions.entry(key).or_default().merge(&health);
        }
        for (key, cohort) in other.cohorts {
            let mine = self.cohorts.entry(key).or_default();
            mine.health.merge(&cohort.health);
            for version in cohort.versions {
                if mine.versions.len() < MAX_VERSIONS_PER_COHORT {
                    mine.versions.insert(version);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_release_functions_record_as_logged() {
        let expected = Routed { channel: "sdk".into(), kind: "canary".into(), version: "1.5.0+b2".into(), cohort: 3 };
        assert_eq!(parse(b"release=sdk;kind=canary;version=1.5.0+b2;cohort=3"), Some(expected.clone()));
        assert_eq!(parse(b"release%3Dsdk%3Bkind%3Dcanary%3Bversion%3D1.5.0%2Bb2%3Bcohort%3D3"), Some(expected));
        for other in [
            &b"-"[..],
            b"",
            b"variant=b",
            b"release=sdk;kind=canary;version=1.5.0",
            b"release=sdk;kind=beta;version=1;cohort=1",
            b"release=sdk;kind=stable;version=a/b;cohort=1",
            b"release=sdk;kind=stable;version=1;cohort=-1",
            b"release%3Dsdk%3",
            b"kind=canary;release=sdk;version=1;cohort=1",
            b"release=sdk;kind=canary;version=1;cohort=1;extra=2",
            b"release=sdk;kind=canary;version=1;cohort=123456",
        ] {
            assert_eq!(parse(other), None, "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn errors_by_class() {
        let mut h = Health::default();
        let one = Tally { requests: 1, bytes: 10, hits: 1, misses: 0 };
        for status in [Some(200), Some(404), Some(503), None] {
            h.add(status, one);
        }
        assert_eq!((h.all.requests, h.client_errors, h.server_errors), (4, 1, 1));
        assert_eq!(h.error_ratio(), Some(0.5));
    }
}
