//! Moving a site's traffic off its old web servers by DNS (`media-edge migrate`, docs/migration.md):
//! the site's name becomes two weighted records in Route 53, the old servers (`legacy`) and the
//! CloudFront distribution, and the share of viewers CloudFront gets is moved by hand (`shift`) or
//! by a plan the release controller runs with the same engine as release rollouts
//! ([`crate::rollout::decide`]). After 100% the legacy records stay at weight 0 for a rollback
//! window, then the controller removes them.
//!
//! This module is the pure part: the state kept in the release bucket, what share a pair of
//! weights gives, and the change batch that moves them. Route 53 is the truth for the weights:
//! every change deletes the records exactly as they were read and creates them with the new weight
//! in one atomic batch, so a change made by someone else since the read makes the batch fail
//! instead of being overwritten.

use aws_sdk_route53::types::{AliasTarget, Change, ChangeAction, ResourceRecord, ResourceRecordSet, RrType};
use edge_router::channel::{Change as HistoryEntry, PendingAnnouncement, Rollout};
use serde::{Deserialize, Serialize};

use crate::error::ReleaseError;

/// The records' set identifiers: how `migrate` knows its own.
pub const CLOUDFRONT_SET: &str = "media-edge-cloudfront";
pub const LEGACY_SET: &str = "media-edge-legacy";
/// The hosted zone every CloudFront distribution's alias target is in (AWS documents this id).
pub const CLOUDFRONT_ALIAS_ZONE: &str = "Z2FDTNDATAQYW2";
pub const MIGRATION_SCHEMA: &str = "media-edge.migration";
pub const MIGRATION_SCHEMA_VERSION: u32 = 1;
/// How long the old servers stay one command away after 100%, unless `--keep-legacy` says.
pub const DEFAULT_KEEP_LEGACY_SECONDS: u64 = 3 * 86_400;
/// The plan's announcements and history use this as the "release".
pub const RELEASE_NAME: &str = "CloudFront";

/// Where a record's migration state lives in the release bucket.
pub fn state_key(name: &str) -> String {
    format!("migrations/{}.json", name.trim_end_matches('.').to_ascii_lowercase())
}

/// `www.example.com` → `www.example.com.` (Route 53 returns names with the final dot).
pub fn fqdn(name: &str) -> String {
    let name = name.trim().to_ascii_lowercase();
    if name.ends_with('.') {
        name
    } else {
        format!("{name}.")
    }
}

/// The channel name announcements carry (the notifier lists it beside release channels).
pub fn announced_as(name: &str) -> String {
    format!("dns:{}", name.trim_end_matches('.'))
}

/// What `migrate` keeps per record name: the plan, the rollback window, history and the
/// announcements the controller has yet to publish. The weights themselves are Route 53's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationState {
    pub schema: String,
    pub version: u32,
    pub zone: String,
    /// With the final dot.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
    /// The rollback window a plan ends with (`--keep-legacy`), in seconds.
    #[serde(default = "default_keep")]
    pub keep_legacy_seconds: u64,
    /// After 100%: the legacy records stay (at weight 0) until then (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_legacy_until: Option<u64>,
    /// When the controller removed the legacy records (RFC 3339): no rollback after that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_removed_at: Option<String>,
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    #[serde(default)]
    pub pending: Vec<PendingAnnouncement>,
}

fn default_keep() -> u64 {
    DEFAULT_KEEP_LEGACY_SECONDS
}

impl MigrationState {
    pub fn new(zone: &str, name: &str) -> Self {
        MigrationState {
            schema: MIGRATION_SCHEMA.into(),
            version: MIGRATION_SCHEMA_VERSION,
            zone: zone.into(),
            name: fqdn(name),
            rollout: None,
            keep_legacy_seconds: DEFAULT_KEEP_LEGACY_SECONDS,
            keep_legacy_until: None,
            legacy_removed_at: None,
            history: Vec::new(),
            pending: Vec::new(),
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, ReleaseError> {
        let state: MigrationState = serde_json::from_slice(bytes)
            .map_err(|e| ReleaseError::Invalid(format!("the migration state is unreadable: {e}")))?;
        if state.schema != MIGRATION_SCHEMA || state.version != MIGRATION_SCHEMA_VERSION {
            return Err(ReleaseError::Invalid(format!(
                "unsupported migration state {}/v{}",
                state.schema, state.version
            )));
        }
        Ok(state)
    }
}

/// The record sets at the name, as Route 53 returned them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Records {
    pub sets: Vec<ResourceRecordSet>,
}

/// The types a site's name can be served by (a CNAME stands alone; A and AAAA go together).
const TYPES: [RrType; 3] = [RrType::A, RrType::Aaaa, RrType::Cname];

impl Records {
    fn ours<'a>(&'a self, set: &'a str) -> impl Iterator<Item = &'a ResourceRecordSet> {
        self.sets.iter().filter(move |s| s.set_identifier() == Some(set))
    }

    /// The plain (not weighted) records `prepare` turns into the legacy half.
    fn plain(&self) -> impl Iterator<Item = &ResourceRecordSet> {
        self.sets.iter().filter(|s| s.set_identifier().is_none() && TYPES.contains(s.r#type()))
    }

    pub fn prepared(&self) -> bool {
        self.ours(CLOUDFRONT_SET).next().is_some()
    }

    pub fn legacy_present(&self) -> bool {
        self.ours(LEGACY_SET).next().is_some()
    }

    /// Percent of viewers CloudFront gets, from the first type's weights (every type is moved
    /// together). `None` before `prepare`. Route 53 answers evenly when every weight is 0.
    pub fn share(&self) -> Option<u8> {
        let cloudfront = self.ours(CLOUDFRONT_SET).next()?;
        let legacy = self.ours(LEGACY_SET).find(|l| l.r#type() == cloudfront.r#type());
        let c = cloudfront.weight().unwrap_or(0).max(0) as u64;
        let l = legacy.map_or(0, |l| l.weight().unwrap_or(0).max(0) as u64);
        Some(match (c, l, legacy.is_some()) {
            (_, _, false) => 100,
            (0, 0, true) => 50,
            (c, l, true) => ((c * 100 + (c + l) / 2) / (c + l)) as u8,
        })
    }

    /// How long resolvers may keep an answer: the legacy records' TTL (an alias has none of its
    /// own; CloudFront's alias answers carry 60 s).
    pub fn ttl(&self) -> i64 {
        self.ours(LEGACY_SET).chain(self.ours(CLOUDFRONT_SET)).filter_map(|s| s.ttl()).max().unwrap_or(60)
    }

    /// The changes that give CloudFront `share` percent: each of our records whose weight
    /// differs is deleted exactly as read and created with the new weight.
    pub fn shift(&self, share: u8) -> Result<Vec<Change>, ReleaseError> {
        if !self.prepared() {
            return Err(not_prepared());
        }
        let share = i64::from(share.min(100));
        let mut changes = Vec::new();
        for (set, weight) in [(CLOUDFRONT_SET, share), (LEGACY_SET, 100 - share)] {
            for record in self.ours(set).filter(|r| r.weight() != Some(weight)) {
                let mut moved = record.clone();
                moved.weight = Some(weight);
                changes.push(change(ChangeAction::Delete, record.clone())?);
                changes.push(change(ChangeAction::Create, moved)?);
            }
        }
        Ok(changes)
    }

    /// The changes that remove the legacy records (the end of the rollback window).
    pub fn remove_legacy(&self) -> Result<Vec<Change>, ReleaseError> {
        self.ours(LEGACY_SET).map(|r| change(ChangeAction::Delete, r.clone())).collect()
    }

    /// The changes that turn the name's plain records into the weighted pair, in one batch so the
    /// name never stops answering: each plain record becomes the legacy half as it was (weight
    /// 100, with the health check if one is given), beside the CloudFront half at weight 0 (an
    /// alias for A and AAAA, the distribution's name for a CNAME).
    pub fn prepare(&self, distribution_domain: &str, health_check: Option<&str>) -> Result<Vec<Change>, ReleaseError> {
        if self.prepared() {
            return Err(ReleaseError::Invalid("the name already has media-edge's weighted records".into()));
        }
        let plain: Vec<&ResourceRecordSet> = self.plain().collect();
        if plain.is_empty() {
            return Err(ReleaseError::Invalid(
                "the name has no A, AAAA or CNAME record to take over (point it at the old servers first)".into(),
            ));
        }
        let mut changes = Vec::new();
        for record in plain {
            let mut legacy = record.clone();
            legacy.set_identifier = Some(LEGACY_SET.into());
            legacy.weight = Some(100);
            if let Some(id) = health_check.filter(|id| !id.is_empty()) {
                legacy.health_check_id = Some(id.into());
            }
            let builder = ResourceRecordSet::builder()
                .name(record.name())
                .r#type(record.r#type().clone())
                .set_identifier(CLOUDFRONT_SET)
                .weight(0);
            let cloudfront = if *record.r#type() == RrType::Cname {
                builder
                    .ttl(record.ttl().unwrap_or(60))
                    .resource_records(ResourceRecord::builder().value(distribution_domain).build().map_err(invalid)?)
            } else {
                let alias = AliasTarget::builder()
                    .hosted_zone_id(CLOUDFRONT_ALIAS_ZONE)
                    .dns_name(distribution_domain)
                    .evaluate_target_health(false)
                    .build()
                    .map_err(invalid)?;
                builder.alias_target(alias)
            }
            .build()
            .map_err(invalid)?;
            changes.push(change(ChangeAction::Delete, record.clone())?);
            changes.push(change(ChangeAction::Create, legacy)?);
            changes.push(change(ChangeAction::Create, cloudfront)?);
        }
        Ok(changes)
    }

    /// One line per record, for `migrate status`.
    pub fn describe(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .sets
            .iter()
            .filter(|s| TYPES.contains(s.r#type()))
            .map(|s| {
                let target = match s.alias_target() {
                    Some(alias) => format!("alias {}", alias.dns_name()),
                    None => s.resource_records().iter().map(|r| r.value()).collect::<Vec<_>>().join(" "),
                };
                let weight = s.weight().map_or_else(|| "not weighted".into(), |w| format!("weight {w}"));
                let ttl = s.ttl().map_or_else(String::new, |t| format!(", TTL {t} s"));
                let health = s.health_check_id().map_or_else(String::new, |h| format!(", health check {h}"));
                format!(
                    "{} {} [{}] {weight}{ttl}{health}: {target}",
                    s.name(),
                    s.r#type().as_str(),
                    s.set_identifier().unwrap_or("-")
                )
            })
            .collect();
        lines.sort();
        lines
    }
}

fn change(action: ChangeAction, set: ResourceRecordSet) -> Result<Change, ReleaseError> {
    Change::builder().action(action).resource_record_set(set).build().map_err(invalid)
}

fn invalid(e: impl std::fmt::Display) -> ReleaseError {
    ReleaseError::Invalid(e.to_string())
}

pub(crate) fn not_prepared() -> ReleaseError {
    ReleaseError::Invalid(
        "the name has no media-edge weighted records yet: run `media-edge migrate prepare` first".into(),
    )
}

/// `3d`, `12h`, …: a rollback window or a plan's interval (days allowed, unlike release rollouts').
pub fn parse_duration(text: &str) -> Result<u64, ReleaseError> {
    match text.trim().strip_suffix('d') {
        Some(days) if !days.is_empty() && days.bytes().all(|b| b.is_ascii_digit()) => days
            .parse::<u64>()
            .map(|d| d.saturating_mul(86_400))
            .map_err(|_| ReleaseError::Invalid(format!("{text:?} is not a duration (3d, 12h, 30m)"))),
        _ => crate::rollout::parse_interval(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain_a() -> ResourceRecordSet {
        ResourceRecordSet::builder()
            .name("www.example.com.")
            .r#type(RrType::A)
            .ttl(300)
            .resource_records(ResourceRecord::builder().value("192.0.2.10").build().unwrap())
            .build()
            .unwrap()
    }

    /// Applies a batch as Route 53 does (for the pure tests): deletes must match exactly.
    fn apply(records: &mut Records, changes: &[Change]) {
        for c in changes {
            let set = c.resource_record_set().unwrap().clone();
            match c.action() {
                ChangeAction::Delete => {
                    let i = records.sets.iter().position(|s| *s == set).expect("a delete matches exactly");
                    records.sets.remove(i);
                }
                _ => records.sets.push(set),
            }
        }
    }

    #[test]
    fn prepare_keeps_the_old_answer_and_adds_cloudfront_at_zero() {
        let mut records = Records { sets: vec![plain_a()] };
        assert_eq!(records.share(), None);
        assert!(records.shift(10).is_err(), "not prepared");
        let changes = records.prepare("d111.cloudfront.net", Some("hc-1")).unwrap();
        apply(&mut records, &changes);
        assert_eq!(records.share(), Some(0));
        assert_eq!(records.ttl(), 300);
        let legacy = records.ours(LEGACY_SET).next().unwrap();
        assert_eq!((legacy.weight(), legacy.health_check_id()), (Some(100), Some("hc-1")));
        assert_eq!(legacy.resource_records()[0].value(), "192.0.2.10");
        let cloudfront = records.ours(CLOUDFRONT_SET).next().unwrap();
        let alias = cloudfront.alias_target().unwrap();
        assert_eq!((alias.hosted_zone_id(), alias.dns_name()), (CLOUDFRONT_ALIAS_ZONE, "d111.cloudfront.net"));
        assert!(records.prepare("d111.cloudfront.net", None).is_err(), "twice");
        assert!(Records::default().prepare("d111.cloudfront.net", None).is_err(), "nothing to take over");
    }

    #[test]
    fn a_cname_site_gets_a_cname_to_the_distribution() {
        let cname = ResourceRecordSet::builder()
            .name("static.example.com.")
            .r#type(RrType::Cname)
            .ttl(60)
            .resource_records(ResourceRecord::builder().value("old-lb.example.net").build().unwrap())
            .build()
            .unwrap();
        let mut records = Records { sets: vec![cname] };
        let changes = records.prepare("d111.cloudfront.net", None).unwrap();
        apply(&mut records, &changes);
        let cloudfront = records.ours(CLOUDFRONT_SET).next().unwrap();
        assert_eq!(cloudfront.resource_records()[0].value(), "d111.cloudfront.net");
        assert_eq!(cloudfront.ttl(), Some(60));
    }

    #[test]
    fn shifting_moves_both_halves_of_every_type_and_nothing_that_is_already_there() {
        let aaaa = ResourceRecordSet::builder()
            .name("www.example.com.")
            .r#type(RrType::Aaaa)
            .ttl(300)
            .resource_records(ResourceRecord::builder().value("2001:db8::10").build().unwrap())
            .build()
            .unwrap();
        let mut records = Records { sets: vec![plain_a(), aaaa] };
        let changes = records.prepare("d111.cloudfront.net", None).unwrap();
        apply(&mut records, &changes);
        let changes = records.shift(10).unwrap();
        assert_eq!(changes.len(), 8, "two types, two halves, delete and create each");
        apply(&mut records, &changes);
        assert_eq!(records.share(), Some(10));
        let weights: Vec<(String, Option<i64>)> =
            records.sets.iter().map(|s| (s.set_identifier().unwrap_or("").to_string(), s.weight())).collect();
        assert_eq!(weights.iter().filter(|(s, w)| s == CLOUDFRONT_SET && *w == Some(10)).count(), 2);
        assert_eq!(weights.iter().filter(|(s, w)| s == LEGACY_SET && *w == Some(90)).count(), 2);
        assert!(records.shift(10).unwrap().is_empty(), "already there");
        let changes = records.shift(100).unwrap();
        apply(&mut records, &changes);
        assert_eq!(records.share(), Some(100));
        let changes = records.remove_legacy().unwrap();
        apply(&mut records, &changes);
        assert!(!records.legacy_present());
        assert_eq!(records.share(), Some(100));
    }

    #[test]
    fn shares_round_and_all_zero_is_even() {
        let weighted = |set: &str, w: i64| {
            let mut r = plain_a();
            r.set_identifier = Some(set.into());
            r.weight = Some(w);
            r
        };
        let share = |c, l| Records { sets: vec![weighted(CLOUDFRONT_SET, c), weighted(LEGACY_SET, l)] }.share();
        assert_eq!(share(0, 0), Some(50));
        assert_eq!(share(1, 2), Some(33));
        assert_eq!(share(2, 1), Some(67));
        assert_eq!(share(25, 75), Some(25));
    }

    #[test]
    fn names_keys_and_durations() {
        assert_eq!(fqdn(" WWW.Example.com "), "www.example.com.");
        assert_eq!(state_key("www.example.com."), "migrations/www.example.com.json");
        assert_eq!(announced_as("www.example.com."), "dns:www.example.com");
        assert_eq!(parse_duration("3d").unwrap(), 259_200);
        assert_eq!(parse_duration("12h").unwrap(), 43_200);
        assert!(parse_duration("d").is_err() && parse_duration("3 days").is_err());
        let state = MigrationState::new("Z1", "www.example.com");
        let back = MigrationState::parse(&serde_json::to_vec(&state).unwrap()).unwrap();
        assert_eq!(back, state);
        assert!(MigrationState::parse(br#"{"schema":"other","version":1,"zone":"Z","name":"x."}"#).is_err());
    }
}
