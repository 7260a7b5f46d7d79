//! Release health from the access logs: requests, errors and cache hits per release version and
//! per cohort. The logs keep the URL the viewer asked for (`/sdk/sdk.js`), not the version the
//! edge function chose, so the function says what it chose in the request's log data
//! (`viewer-request-log-data`, standard logging v2): `release=<channel>;kind=<kind>;
//! version=<version>;cohort=<n>`, URL-encoded by CloudFront.

use std::collections::{BTreeSet, HashMap};

use foldhash::fast::RandomState;

use crate::tally::Tally;

/// What one routed request was served, from its (decoded) log data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed<'a> {
    pub channel: &'a str,
    pub kind: &'a str,
    pub version: &'a str,
    pub cohort: u32,
}

/// Whether raw (URL-encoded) log data may be the release function's: the cheap test before
/// decoding.
pub fn may_be_release(log_data: &[u8]) -> bool {
    log_data.starts_with(b"release")
}

/// The release function's record from decoded log data, or `None` for anything else (other
/// functions' data, `-`).
pub fn parse(decoded: &[u8]) -> Option<Routed<'_>> {
    let text = std::str::from_utf8(decoded).ok()?;
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
    Some(Routed { channel, kind, version, cohort: cohort.parse().ok()? })
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

/// At most this many versions are listed per cohort (a cohort sees a new one at each change):
/// the last ones by name, so the list does not depend on the order logs are read in.
const MAX_VERSIONS_PER_COHORT: usize = 8;

#[derive(Debug, Clone, Default)]
pub struct CohortHealth {
    pub health: Health,
    pub versions: BTreeSet<Box<str>>,
}

impl CohortHealth {
    fn note_version(&mut self, version: &str) {
        if !self.versions.contains(version) {
            self.versions.insert(version.into());
            if self.versions.len() > MAX_VERSIONS_PER_COHORT {
                self.versions.pop_first();
            }
        }
    }
}

/// Release health by (channel, kind, version) and by (channel, cohort). Looked up by borrowed
/// keys: a request of a known version and cohort allocates nothing.
#[derive(Debug, Clone, Default)]
pub struct Releases {
    /// By `channel \0 kind \0 version` ([`Releases::versions`] splits it).
    by_version: HashMap<Box<str>, Health, RandomState>,
    by_cohort: HashMap<Box<str>, HashMap<u32, CohortHealth, RandomState>, RandomState>,
    key: String,
}

impl Releases {
    pub(crate) fn add(&mut self, routed: &Routed<'_>, status: Option<u16>, tally: Tally) {
        let cohorts = match self.by_cohort.get_mut(routed.channel) {
            Some(cohorts) => cohorts,
            None => self.by_cohort.entry(routed.channel.into()).or_default(),
        };
        let cohort = cohorts.entry(routed.cohort).or_default();
        cohort.health.add(status, tally);
        cohort.note_version(routed.version);

        self.key.clear();
        for (i, part) in [routed.channel, routed.kind, routed.version].into_iter().enumerate() {
            if i > 0 {
                self.key.push('\0');
            }
            self.key.push_str(part);
        }
        match self.by_version.get_mut(self.key.as_str()) {
            Some(health) => health.add(status, tally),
            None => self.by_version.entry(self.key.as_str().into()).or_default().add(status, tally),
        }
    }

    pub(crate) fn merge(&mut self, other: Releases) {
        for (key, health) in other.by_version {
            self.by_version.entry(key).or_default().merge(&health);
        }
        for (channel, cohorts) in other.by_cohort {
            let mine = self.by_cohort.entry(channel).or_default();
            for (number, cohort) in cohorts {
                let into = mine.entry(number).or_default();
                into.health.merge(&cohort.health);
                for version in &cohort.versions {
                    into.note_version(version);
                }
            }
        }
    }

    /// (channel, kind, version, health) of every version seen.
    pub fn versions(&self) -> impl Iterator<Item = (&str, &str, &str, &Health)> {
        self.by_version.iter().filter_map(|(key, health)| {
            let mut parts = key.splitn(3, '\0');
            Some((parts.next()?, parts.next()?, parts.next()?, health))
        })
    }

    /// (channel, cohort, health and versions) of every cohort seen.
    pub fn cohorts(&self) -> impl Iterator<Item = (&str, u32, &CohortHealth)> {
        self.by_cohort.iter().flat_map(|(channel, cohorts)| cohorts.iter().map(move |(n, c)| (&**channel, *n, c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Raw log data as CloudFront writes it → the parsed record, owned.
    fn parsed(raw: &[u8]) -> Option<(String, String, String, u32)> {
        let decoded = crate::parse::percent_decoded(raw)?;
        parse(&decoded).map(|r| (r.channel.into(), r.kind.into(), r.version.into(), r.cohort))
    }

    #[test]
    fn reads_the_release_functions_record_as_logged() {
        let expected = Some(("sdk".to_string(), "canary".to_string(), "1.5.0+b2".to_string(), 3));
        assert_eq!(parsed(b"release=sdk;kind=canary;version=1.5.0+b2;cohort=3"), expected);
        assert_eq!(parsed(b"release%3Dsdk%3Bkind%3Dcanary%3Bversion%3D1.5.0%2Bb2%3Bcohort%3D3"), expected);
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
            assert_eq!(parsed(other), None, "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn versions_and_cohorts_merge_and_keep_the_last_versions_by_name() {
        let one = Tally { requests: 1, bytes: 10, hits: 1, misses: 0 };
        let routed = |version, cohort| Routed { channel: "sdk", kind: "stable", version, cohort };
        let (mut a, mut b) = (Releases::default(), Releases::default());
        let names: Vec<String> = (0..12).map(|n| format!("1.{n:02}.0")).collect();
        for (i, name) in names.iter().enumerate() {
            let side = if i % 2 == 0 { &mut a } else { &mut b };
            side.add(&routed(name, 7), Some(200), one);
        }
        a.add(&routed("1.00.0", 7), Some(503), one);
        a.merge(b);
        let versions: Vec<(&str, &str, &str, u64)> =
            a.versions().map(|(c, k, v, h)| (c, k, v, h.all.requests)).collect();
        assert_eq!(versions.len(), 12);
        assert!(versions.contains(&("sdk", "stable", "1.00.0", 2)));
        let (_, number, cohort) = a.cohorts().next().unwrap();
        assert_eq!((number, cohort.health.all.requests, cohort.health.server_errors), (7, 13, 1));
        let kept: Vec<&str> = cohort.versions.iter().map(|v| &**v).collect();
        assert_eq!(kept, names[4..].iter().map(String::as_str).collect::<Vec<_>>(), "the last 8 by name");
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
