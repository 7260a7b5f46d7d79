//! `media-edge backfill s3://<originals>/<prefix>`: sends originals that already exist through the
//! real pipeline, by putting on the jobs queue the same message an upload produces (an S3 event
//! in an SNS envelope), so the processor, its retries, the DLQ, status events and Slack digests
//! behave as for uploads.
//!
//! An original is *current* when its manifest names the version today's settings would produce
//! (same content, same render settings fingerprint): a backfill sends only missing and stale ones,
//! so a second run sends nothing, and a change of variant set or settings re-renders everything.
//! Resumable: the last key sent is recorded in a state file after every batch.
//!
//! `--effort max --keys-from FILE` re-renders exactly the originals FILE names (`media-edge logs
//! --hot N --format json`, or one key per line) at that AVIF effort: the messages carry it, the
//! manifest records it, and later backfills keep it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use image_processor::store::keys::{source_version, OutputLayout};
use media_edge_shared::aws::describe_sdk_error;
use serde::{Deserialize, Serialize};

/// Manifests read at once while classifying.
const CONCURRENT_READS: usize = 16;
/// SendMessageBatch takes at most 10 entries.
const BATCH: usize = 10;

/// One original as a listing or an inventory names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    pub key: String,
    pub size: u64,
    /// Quoted as S3 returns it (`"…"`) or bare: compared without quotes.
    pub etag: String,
    /// Unix seconds.
    pub last_modified: i64,
}

/// What the manifest at an original's manifest key says it was rendered from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ManifestSource {
    pub source_version: String,
    pub source: ManifestObject,
    /// The effort asked for this original (by its upload or an earlier `--effort`), if any.
    #[serde(default)]
    pub avif_effort_asked: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ManifestObject {
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub version_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Rendered for this content with today's settings: never sent again.
    Current,
    /// Rendered, but for other content or other settings.
    Stale,
    /// Never rendered (no manifest).
    Missing,
    /// Not an original the processor takes: outside the input prefix, one of its own outputs, a
    /// folder marker, or outside --since/--until.
    Skipped,
}

/// What decides whether an original is current: where outputs go and the settings' fingerprint.
#[derive(Debug, Clone)]
pub struct Target {
    pub originals_bucket: String,
    pub variants_bucket: String,
    pub layout: OutputLayout,
    pub fingerprint: String,
    /// The settings' fingerprint at each AVIF effort: an original asked for one is judged by it.
    pub effort_fingerprints: HashMap<String, String>,
    /// `--effort`: every original sent is to be rendered at this effort.
    pub effort: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

impl Target {
    /// The effort an original is to be rendered at, when one is asked: `--effort`, else the one
    /// its manifest says was asked before (so a backfill after a settings change keeps it).
    pub fn asked_effort<'a>(&'a self, manifest: Option<&'a ManifestSource>) -> Option<&'a str> {
        self.effort.as_deref().or_else(|| manifest.and_then(|m| m.avif_effort_asked.as_deref()))
    }

    fn fingerprint_at(&self, effort: Option<&str>) -> &str {
        effort.and_then(|e| self.effort_fingerprints.get(e)).unwrap_or(&self.fingerprint)
    }

    /// What a recorded state must match to be resumed: the settings and the asked effort.
    pub fn run_fingerprint(&self) -> String {
        match &self.effort {
            Some(effort) => format!("{};effort={effort}", self.fingerprint),
            None => self.fingerprint.clone(),
        }
    }

    /// Whether the processor would take `original` at all (before reading its manifest).
    pub fn eligible(&self, original: &Original) -> bool {
        let own_output = self.originals_bucket == self.variants_bucket
            && !self.layout.output_prefix.is_empty()
            && original.key.starts_with(&self.layout.output_prefix);
        self.layout.relative(&original.key).is_some()
            && !own_output
            && !original.key.ends_with('/')
            && self.since.is_none_or(|t| original.last_modified >= t)
            && self.until.is_none_or(|t| original.last_modified < t)
    }

    /// Current, stale or missing, from the manifest (if any) of an eligible original.
    pub fn verdict(&self, original: &Original, manifest: Option<&ManifestSource>) -> Verdict {
        let Some(manifest) = manifest else { return Verdict::Missing };
        let bare = |e: &str| e.trim_matches('"').to_string();
        let same_content = manifest.source.etag.as_deref().map(bare) == Some(bare(&original.etag));
        // The manifest's own version id: with the same content, a re-upload is the same picture.
        let today = source_version(
            &self.originals_bucket,
            &original.key,
            manifest.source.etag.as_deref().unwrap_or_default(),
            manifest.source.version_id.as_deref(),
            self.fingerprint_at(self.asked_effort(Some(manifest))),
        );
        if same_content && manifest.source_version == today {
            Verdict::Current
        } else {
            Verdict::Stale
        }
    }
}

/// The message S3 → SNS → SQS delivers for an upload of `original`, with the effort asked for it.
pub fn upload_message(bucket: &str, original: &Original, asked_effort: Option<&str>) -> String {
    media_edge_shared::s3_event::upload_notification(
        bucket,
        &original.key,
        original.size,
        &original.etag,
        &DateTime::from_secs(original.last_modified).fmt(Format::DateTime).unwrap_or_default(),
        "media-edge-backfill",
        &format!("backfill-{}", source_version(bucket, &original.key, &original.etag, None, "backfill")),
        asked_effort,
    )
}

/// Where an interrupted backfill goes on from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub source: String,
    /// Every original up to this key (in key order) has been classified and, if due, sent...
    pub last_key: Option<String>,
    /// ...except these, which failed and are tried again by the next run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry: Vec<String>,
    /// The settings fingerprint the run used: a run with other settings starts over.
    #[serde(default)]
    pub fingerprint: String,
    pub report: Report,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub originals: u64,
    pub bytes: u64,
    pub current: u64,
    pub stale: u64,
    pub missing: u64,
    pub skipped: u64,
    /// Messages put on the jobs queue (0 in a dry run).
    pub sent: u64,
    pub sent_bytes: u64,
    pub errors: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_samples: Vec<String>,
    pub seconds: f64,
    pub dry_run: bool,
}

impl Report {
    fn count(&mut self, verdict: Verdict, original: &Original) {
        self.originals += 1;
        self.bytes += original.size;
        *match verdict {
            Verdict::Current => &mut self.current,
            Verdict::Stale => &mut self.stale,
            Verdict::Missing => &mut self.missing,
            Verdict::Skipped => &mut self.skipped,
        } += 1;
    }

    fn error(&mut self, why: String) {
        self.errors += 1;
        if self.error_samples.len() < 10 {
            self.error_samples.push(why);
        }
    }
}

/// `s3://bucket/prefix` → (bucket, prefix).
pub fn parse_s3_url(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("s3://").ok_or_else(|| format!("{url:?} is not an s3://bucket/prefix URL"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!("{url:?} names no bucket"));
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

/// `2026-11-30` or an RFC 3339 time → Unix seconds.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let full = if text.len() == 10 { format!("{text}T00:00:00Z") } else { text.to_string() };
    DateTime::from_str(&full, Format::DateTime)
        .map(|t| t.secs())
        .map_err(|e| format!("{text:?} is not a date (2026-11-30) or an RFC 3339 time: {e}"))
}

/// At most `per_second` messages a second: a batch of n is sent only once n / rate seconds have
/// passed for it, so no burst ever runs ahead of the rate.
pub struct RateLimit {
    per_second: f64,
    started: Option<Instant>,
    sent: u64,
}

impl RateLimit {
    pub fn new(per_second: f64) -> Self {
        RateLimit { per_second: per_second.max(0.01), started: None, sent: 0 }
    }

    /// How long to wait before sending `n` more.
    pub fn delay_for(&mut self, n: u64, now: Instant) -> Duration {
        let started = *self.started.get_or_insert(now);
        self.sent += n;
        let due = Duration::from_secs_f64(self.sent as f64 / self.per_second);
        due.saturating_sub(now.duration_since(started))
    }

    /// Messages per batch: at most SendMessageBatch's 10, and no more than a second's worth.
    pub fn batch_size(&self) -> usize {
        (self.per_second.ceil() as usize).clamp(1, BATCH)
    }
}

/// Everything a run needs besides the clients.
pub struct Plan {
    pub target: Target,
    pub queue_url: Option<String>,
    pub dry_run: bool,
    pub only_stale: bool,
    pub rate: f64,
    pub state_file: Option<PathBuf>,
}

/// Classifies `originals` (sorted by key) and sends the due ones; resumes from `state`.
pub async fn run(
    s3: &aws_sdk_s3::Client,
    sqs: &aws_sdk_sqs::Client,
    plan: &Plan,
    originals: Vec<Original>,
    mut state: State,
    progress: &dyn Fn(&Report, u64),
) -> Result<Report, String> {
    let started = Instant::now();
    let total = originals.len() as u64;
    let mut limit = RateLimit::new(plan.rate);
    let resume_after = state.last_key.clone();
    let retry: std::collections::HashSet<String> = std::mem::take(&mut state.retry).into_iter().collect();
    let todo: Vec<Original> = originals
        .into_iter()
        .filter(|o| resume_after.as_ref().is_none_or(|last| &o.key > last) || retry.contains(&o.key))
        .collect();
    state.fingerprint = plan.target.run_fingerprint();
    let mut report = std::mem::take(&mut state.report);
    report.dry_run = plan.dry_run;
    let previous_seconds = report.seconds;
    for chunk in todo.chunks(CONCURRENT_READS * 4) {
        let verdicts = classify(s3, &plan.target, chunk).await;
        let mut due = Vec::new();
        for (original, verdict) in chunk.iter().zip(verdicts) {
            match verdict {
                Ok((verdict, effort)) => {
                    report.count(verdict, original);
                    let send = match verdict {
                        Verdict::Stale => true,
                        Verdict::Missing => !plan.only_stale,
                        Verdict::Current | Verdict::Skipped => false,
                    };
                    if send {
                        due.push((original, effort));
                    }
                }
                Err(why) => {
                    report.error(why);
                    state.retry.push(original.key.clone());
                }
            }
        }
        if !plan.dry_run {
            for batch in due.chunks(limit.batch_size()) {
                tokio::time::sleep(limit.delay_for(batch.len() as u64, Instant::now())).await;
                state.retry.extend(send_batch(sqs, plan, batch, &mut report).await);
            }
        }
        let last = chunk.last().map(|o| o.key.clone());
        state.last_key = state.last_key.clone().max(last);
        report.seconds = previous_seconds + started.elapsed().as_secs_f64();
        state.report = report.clone();
        if let Some(path) = &plan.state_file {
            save_state(path, &state)?;
        }
        progress(&report, total);
    }
    report.seconds = previous_seconds + started.elapsed().as_secs_f64();
    // Done with nothing left to retry: the next run (another day, other settings) starts afresh.
    if let (Some(path), true) = (&plan.state_file, state.retry.is_empty()) {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    Ok(report)
}

/// Each original's verdict, and the effort to ask for when it is sent.
type Classified = Result<(Verdict, Option<String>), String>;

async fn classify(s3: &aws_sdk_s3::Client, target: &Target, chunk: &[Original]) -> Vec<Classified> {
    let mut reads = tokio::task::JoinSet::new();
    let mut results: HashMap<usize, Classified> = HashMap::new();
    for (index, original) in chunk.iter().enumerate() {
        if !target.eligible(original) {
            results.insert(index, Ok((Verdict::Skipped, None)));
            continue;
        }
        while reads.len() >= CONCURRENT_READS {
            if let Some(Ok((i, r))) = reads.join_next().await {
                results.insert(i, r);
            }
        }
        let (s3, target, original) = (s3.clone(), target.clone(), original.clone());
        reads.spawn(async move {
            let manifest = read_manifest(&s3, &target, &original.key).await;
            let classified = manifest.map(|m| {
                let effort = target.asked_effort(m.as_ref()).map(str::to_string);
                (target.verdict(&original, m.as_ref()), effort)
            });
            (index, classified)
        });
    }
    while let Some(joined) = reads.join_next().await {
        if let Ok((i, r)) = joined {
            results.insert(i, r);
        }
    }
    (0..chunk.len())
        .map(|i| results.remove(&i).unwrap_or_else(|| Err(format!("{}: not classified", chunk[i].key))))
        .collect()
}

async fn read_manifest(s3: &aws_sdk_s3::Client, target: &Target, key: &str) -> Result<Option<ManifestSource>, String> {
    let manifest_key = target.layout.manifest_key(key);
    match s3.get_object().bucket(&target.variants_bucket).key(&manifest_key).send().await {
        Ok(object) => {
            let bytes = object.body.collect().await.map_err(|e| format!("{manifest_key}: {e}"))?.into_bytes();
            // A manifest that cannot be read is treated as absent: the original is rendered again.
            Ok(serde_json::from_slice(&bytes).ok())
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
        Err(e) => Err(format!("{manifest_key}: {}", describe_sdk_error(&e))),
    }
}

/// Sends one batch; returns the keys that could not be sent.
async fn send_batch(
    sqs: &aws_sdk_sqs::Client,
    plan: &Plan,
    batch: &[(&Original, Option<String>)],
    report: &mut Report,
) -> Vec<String> {
    let Some(queue_url) = &plan.queue_url else { return Vec::new() };
    let mut pending: Vec<(String, &Original, Option<&str>)> =
        batch.iter().enumerate().map(|(i, (o, effort))| (i.to_string(), *o, effort.as_deref())).collect();
    for attempt in 0..3 {
        let entries: Vec<SendMessageBatchRequestEntry> = pending
            .iter()
            .filter_map(|(id, o, effort)| {
                SendMessageBatchRequestEntry::builder()
                    .id(id)
                    .message_body(upload_message(&plan.target.originals_bucket, o, *effort))
                    .build()
                    .ok()
            })
            .collect();
        match sqs.send_message_batch().queue_url(queue_url).set_entries(Some(entries)).send().await {
            Ok(out) => {
                let failed: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
                for (id, o, _) in &pending {
                    if !failed.contains(&id.as_str()) {
                        report.sent += 1;
                        report.sent_bytes += o.size;
                    }
                }
                pending.retain(|(id, _, _)| failed.contains(&id.as_str()));
            }
            Err(e) if attempt == 2 => {
                for (_, o, _) in &pending {
                    report.error(format!("{}: sending: {}", o.key, describe_sdk_error(&e)));
                }
                return pending.iter().map(|(_, o, _)| o.key.clone()).collect();
            }
            Err(_) => {}
        }
        if pending.is_empty() {
            return Vec::new();
        }
        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
    }
    for (_, o, _) in &pending {
        report.error(format!("{}: the queue refused the message three times", o.key));
    }
    pending.iter().map(|(_, o, _)| o.key.clone()).collect()
}

/// The recorded state of an interrupted run of `source`, or a fresh one. A state recorded with
/// other settings (`fingerprint`) is not resumed: everything is stale under the new ones anyway.
pub fn load_state(path: &std::path::Path, source: &str, fingerprint: &str) -> Result<State, String> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let state: State =
                serde_json::from_slice(&bytes).map_err(|e| format!("{}: not a backfill state: {e}", path.display()))?;
            if state.source != source {
                return Err(format!(
                    "{} records a backfill of {}, not {source}: pass another --state or --restart",
                    path.display(),
                    state.source
                ));
            }
            if !state.fingerprint.is_empty() && state.fingerprint != fingerprint {
                eprintln!("{}: recorded with other render settings; starting over", path.display());
                return Ok(State { source: source.into(), ..State::default() });
            }
            Ok(state)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State { source: source.into(), ..State::default() }),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn save_state(path: &std::path::Path, state: &State) -> Result<(), String> {
    let json = serde_json::to_vec_pretty(state).map_err(|e| e.to_string())?;
    let temporary = path.with_extension("json.partial");
    std::fs::write(&temporary, json).map_err(|e| format!("{}: {e}", temporary.display()))?;
    std::fs::rename(&temporary, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The originals a `--keys-from` file names: the JSON of `media-edge logs --hot N --format json`
/// (each entry's `original` key, or its URL `path` mapped back through `layout`), or one key per
/// line (blank lines and `#` comments skipped). In the file's order, without repeats.
pub fn keys_from(text: &str, layout: &OutputLayout) -> Result<Vec<String>, String> {
    let mut keys: Vec<String> = Vec::new();
    if text.trim_start().starts_with('{') {
        #[derive(Deserialize)]
        struct Hot {
            hot: Vec<HotEntry>,
        }
        #[derive(Deserialize)]
        struct HotEntry {
            #[serde(default)]
            original: Option<String>,
            path: String,
        }
        let hot: Hot = serde_json::from_str(text)
            .map_err(|e| format!("not the JSON of `media-edge logs --hot N --format json`: {e}"))?;
        for entry in hot.hot {
            let key = match entry.original {
                Some(key) => key,
                None => {
                    let relative = entry.path.strip_prefix(&layout.output_prefix).ok_or_else(|| {
                        format!("{:?} is not under the output prefix {:?}", entry.path, layout.output_prefix)
                    })?;
                    format!("{}{relative}", layout.input_prefix)
                }
            };
            keys.push(key);
        }
    } else {
        keys.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from));
    }
    let mut seen = std::collections::HashSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    Ok(keys)
}

/// The named originals as they are now (HEAD each, 16 at a time), in key order; keys that do not
/// exist or cannot be read come back apart, with why.
pub async fn originals_named(s3: &aws_sdk_s3::Client, bucket: &str, keys: &[String]) -> (Vec<Original>, Vec<String>) {
    let (mut originals, mut problems) = (Vec::new(), Vec::new());
    let mut heads = tokio::task::JoinSet::new();
    let mut collect = |joined: Option<Result<Result<Original, String>, tokio::task::JoinError>>| match joined {
        Some(Ok(Ok(original))) => originals.push(original),
        Some(Ok(Err(problem))) => problems.push(problem),
        Some(Err(e)) => problems.push(format!("a HEAD request failed: {e}")),
        None => {}
    };
    for key in keys {
        while heads.len() >= CONCURRENT_READS {
            collect(heads.join_next().await);
        }
        let (s3, bucket, key) = (s3.clone(), bucket.to_string(), key.clone());
        heads.spawn(async move {
            match s3.head_object().bucket(&bucket).key(&key).send().await {
                Ok(head) => Ok(Original {
                    size: head.content_length().unwrap_or(0).max(0) as u64,
                    etag: head.e_tag().unwrap_or_default().to_string(),
                    last_modified: head.last_modified().map_or(0, |t| t.secs()),
                    key,
                }),
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                    Err(format!("{key}: no such original in s3://{bucket}"))
                }
                Err(e) => Err(format!("{key}: {}", describe_sdk_error(&e))),
            }
        });
    }
    while !heads.is_empty() {
        collect(heads.join_next().await);
    }
    originals.sort_by(|a, b| a.key.cmp(&b.key));
    problems.sort();
    (originals, problems)
}

/// Every object under `prefix`, in key order. A bucket or prefix that cannot be read is an error
/// before anything is sent.
pub async fn list(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<Original>, String> {
    let mut originals = Vec::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| format!("listing s3://{bucket}/{prefix}: {}", describe_sdk_error(&e)))?;
        originals.extend(page.contents().iter().filter_map(|o| {
            Some(Original {
                key: o.key()?.to_string(),
                size: o.size().unwrap_or(0).max(0) as u64,
                etag: o.e_tag().unwrap_or_default().to_string(),
                last_modified: o.last_modified().map_or(0, |t| t.secs()),
            })
        }));
    }
    originals.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(originals)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            originals_bucket: "originals".into(),
            variants_bucket: "variants".into(),
            layout: OutputLayout { input_prefix: "uploads/".into(), output_prefix: String::new() },
            fingerprint: "settings-v2".into(),
            effort_fingerprints: [("max", "settings-v2-max"), ("default", "settings-v2")]
                .map(|(e, f)| (e.to_string(), f.to_string()))
                .into(),
            effort: None,
            since: None,
            until: None,
        }
    }

    fn original(key: &str) -> Original {
        Original { key: key.into(), size: 10, etag: "\"e1\"".into(), last_modified: 1_800_000_000 }
    }

    fn manifest(etag: &str, fingerprint: &str, key: &str) -> ManifestSource {
        ManifestSource {
            source_version: source_version("originals", key, etag, None, fingerprint),
            source: ManifestObject { etag: Some(etag.into()), version_id: None },
            avif_effort_asked: None,
        }
    }

    #[test]
    fn current_stale_and_missing() {
        let t = target();
        let o = original("uploads/a.jpg");
        assert_eq!(t.verdict(&o, Some(&manifest("e1", "settings-v2", "uploads/a.jpg"))), Verdict::Current);
        assert_eq!(
            t.verdict(&o, Some(&manifest("e1", "settings-v1", "uploads/a.jpg"))),
            Verdict::Stale,
            "settings changed"
        );
        assert_eq!(
            t.verdict(&o, Some(&manifest("e0", "settings-v2", "uploads/a.jpg"))),
            Verdict::Stale,
            "content changed"
        );
        assert_eq!(t.verdict(&o, None), Verdict::Missing);
    }

    /// `--effort max` judges by the settings at max and asks for it; a manifest asked for an
    /// effort before is judged by that effort and asked for it again, so reruns converge.
    #[test]
    fn an_asked_effort_is_judged_by_and_kept() {
        let mut t = target();
        let o = original("uploads/a.jpg");
        let default = manifest("e1", "settings-v2", "uploads/a.jpg");
        let max = ManifestSource {
            avif_effort_asked: Some("max".into()),
            ..manifest("e1", "settings-v2-max", "uploads/a.jpg")
        };
        assert_eq!((t.verdict(&o, Some(&max)), t.asked_effort(Some(&max))), (Verdict::Current, Some("max")));
        assert_eq!((t.verdict(&o, Some(&default)), t.asked_effort(Some(&default))), (Verdict::Current, None));
        t.effort = Some("max".into());
        assert_eq!((t.verdict(&o, Some(&default)), t.asked_effort(Some(&default))), (Verdict::Stale, Some("max")));
        assert_eq!(t.verdict(&o, Some(&max)), Verdict::Current, "a second --effort max run sends nothing");
        assert_eq!((t.verdict(&o, None), t.asked_effort(None)), (Verdict::Missing, Some("max")));
        assert_ne!(t.run_fingerprint(), target().run_fingerprint(), "a state of another effort is not resumed");
        let body = upload_message("originals", &o, Some("max"));
        let media_edge_shared::s3_event::Notification::Objects(events) =
            media_edge_shared::s3_event::parse_sqs_body(&body).unwrap()
        else {
            panic!("not an object event");
        };
        assert_eq!(events[0].asked_effort.as_deref(), Some("max"));
    }

    #[test]
    fn keys_come_from_the_hot_list_or_lines() {
        let layout = OutputLayout { input_prefix: "uploads/".into(), output_prefix: "v/".into() };
        let hot = r#"{"hot": [{"path": "v/a b.jpg", "original": "uploads/a b.jpg", "bytes": 9},
                              {"path": "v/c/d.png", "bytes": 5}, {"path": "v/a b.jpg", "bytes": 1}]}"#;
        assert_eq!(keys_from(hot, &layout).unwrap(), ["uploads/a b.jpg", "uploads/c/d.png"]);
        assert!(keys_from(r#"{"hot": [{"path": "elsewhere/x.jpg"}]}"#, &layout).unwrap_err().contains("output prefix"));
        assert!(keys_from(r#"{"rows": []}"#, &layout).is_err());
        let lines = "# hot originals\nuploads/a.jpg\n\n  uploads/b c.jpg  \nuploads/a.jpg\n";
        assert_eq!(keys_from(lines, &layout).unwrap(), ["uploads/a.jpg", "uploads/b c.jpg"]);
    }

    #[test]
    fn outputs_markers_other_prefixes_and_times_are_skipped() {
        let mut t = target();
        assert!(t.eligible(&original("uploads/a.jpg")));
        assert!(!t.eligible(&original("other/a.jpg")));
        assert!(!t.eligible(&original("uploads/folder/")));
        assert!(!t.eligible(&original("uploads/")));
        t.variants_bucket = "originals".into();
        t.layout.output_prefix = "uploads/variants/".into();
        assert!(!t.eligible(&original("uploads/variants/a.jpg/0123/pc.jpg")), "own output");
        let mut t = target();
        t.since = Some(1_800_000_001);
        assert!(!t.eligible(&original("uploads/a.jpg")));
        t.since = Some(1_800_000_000);
        t.until = Some(1_800_000_000);
        assert!(!t.eligible(&original("uploads/a.jpg")), "until is exclusive");
    }

    #[test]
    fn the_message_is_what_an_upload_produces() {
        let o = original("uploads/a b+c/한글 100%.jpg");
        let body = upload_message("originals", &o, None);
        let media_edge_shared::s3_event::Notification::Objects(events) =
            media_edge_shared::s3_event::parse_sqs_body(&body).unwrap()
        else {
            panic!("not an object event");
        };
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].key, o.key);
        assert_eq!(events[0].bucket, "originals");
        assert_eq!(events[0].etag.as_deref(), Some("e1"));
        assert!(events[0].is_object_created());
    }

    #[test]
    fn urls_times_and_rates() {
        assert_eq!(parse_s3_url("s3://b/uploads/x").unwrap(), ("b".into(), "uploads/x".into()));
        assert_eq!(parse_s3_url("s3://b").unwrap(), ("b".into(), String::new()));
        assert!(parse_s3_url("b/uploads").is_err() && parse_s3_url("s3:///x").is_err());
        assert_eq!(parse_time("2027-01-15").unwrap(), 1_799_971_200);
        assert_eq!(parse_time("2027-01-15T00:00:10Z").unwrap(), 1_799_971_210);
        assert!(parse_time("yesterday").is_err());
        let mut limit = RateLimit::new(10.0);
        let t0 = Instant::now();
        assert_eq!(limit.delay_for(10, t0), Duration::from_secs(1), "ten at 10/s take a second");
        assert_eq!(limit.delay_for(10, t0), Duration::from_secs(2));
        assert_eq!(limit.delay_for(10, t0 + Duration::from_millis(2500)), Duration::from_millis(500));
        assert_eq!(
            (RateLimit::new(4.0).batch_size(), RateLimit::new(0.5).batch_size(), RateLimit::new(50.0).batch_size()),
            (4, 1, 10)
        );
    }
}

/// An S3 Inventory report's `manifest.json`: which files hold the listing, in which format.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InventoryManifest {
    source_bucket: String,
    file_format: String,
    file_schema: String,
    files: Vec<InventoryFile>,
}

#[derive(Debug, Deserialize)]
struct InventoryFile {
    key: String,
}

/// Every object an S3 Inventory report lists under `prefix`, in key order (for buckets too large
/// to list). The report's data files are read from the bucket holding `manifest.json`.
pub async fn read_inventory(
    s3: &aws_sdk_s3::Client,
    manifest_url: &str,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<Original>, String> {
    let (report_bucket, manifest_key) = parse_s3_url(manifest_url)?;
    let manifest: InventoryManifest = serde_json::from_slice(&get(s3, &report_bucket, &manifest_key).await?)
        .map_err(|e| format!("{manifest_url}: not an S3 Inventory manifest: {e}"))?;
    if manifest.source_bucket != bucket {
        return Err(format!("{manifest_url} lists bucket {}, not {bucket}", manifest.source_bucket));
    }
    let parquet = manifest.file_format.eq_ignore_ascii_case("Parquet");
    if !parquet && !manifest.file_format.eq_ignore_ascii_case("CSV") {
        return Err(format!(
            "{manifest_url} is a {} inventory; media-edge reads CSV and Parquet inventories",
            manifest.file_format
        ));
    }
    if parquet {
        let mut originals = Vec::new();
        for file in &manifest.files {
            let bytes = get(s3, &report_bucket, &file.key).await?;
            originals.extend(parquet_originals(bytes, prefix).map_err(|e| format!("{}: {e}", file.key))?);
        }
        originals.sort_by(|a, b| a.key.cmp(&b.key));
        originals.dedup_by(|a, b| a.key == b.key);
        return Ok(originals);
    }
    let columns: Vec<String> = manifest.file_schema.split(',').map(|c| c.trim().to_ascii_lowercase()).collect();
    let column = |name: &str| columns.iter().position(|c| c == name);
    let key_at = column("key").ok_or_else(|| format!("{manifest_url}: the inventory has no Key field"))?;
    let (size_at, etag_at, modified_at) = (column("size"), column("etag"), column("lastmodifieddate"));
    let mut originals = Vec::new();
    for file in &manifest.files {
        let gzipped = get(s3, &report_bucket, &file.key).await?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(flate2::read::GzDecoder::new(gzipped.as_slice()));
        for (line, record) in reader.records().enumerate() {
            let record = record.map_err(|e| format!("{} line {}: {e}", file.key, line + 1))?;
            let field = |at: Option<usize>| at.and_then(|i| record.get(i)).unwrap_or_default();
            // CSV inventories URL-encode keys.
            let key = media_edge_shared::s3_event::decode_s3_key(field(Some(key_at))).map_err(|e| e.to_string())?;
            if !key.starts_with(prefix) {
                continue;
            }
            originals.push(Original {
                key,
                size: field(size_at).parse().unwrap_or(0),
                etag: field(etag_at).to_string(),
                last_modified: DateTime::from_str(field(modified_at), Format::DateTime).map_or(0, |t| t.secs()),
            });
        }
    }
    originals.sort_by(|a, b| a.key.cmp(&b.key));
    originals.dedup_by(|a, b| a.key == b.key);
    Ok(originals)
}

/// The originals one Parquet inventory file lists under `prefix`. Columns by name (`key`, `size`,
/// `last_modified_date`, `e_tag`, as S3 Inventory writes them); keys are not URL-encoded here.
pub fn parquet_originals(bytes: Vec<u8>, prefix: &str) -> Result<Vec<Original>, String> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).map_err(|e| e.to_string())?;
    let mut originals = Vec::new();
    for row in reader.get_row_iter(None).map_err(|e| e.to_string())? {
        let row = row.map_err(|e| e.to_string())?;
        let mut original = Original { key: String::new(), size: 0, etag: String::new(), last_modified: 0 };
        for (name, field) in row.get_column_iter() {
            match (name.to_ascii_lowercase().replace('_', "").as_str(), field) {
                ("key", Field::Str(key)) => original.key = key.clone(),
                ("size", Field::Long(n)) => original.size = (*n).max(0) as u64,
                ("etag", Field::Str(etag)) => original.etag = etag.clone(),
                ("lastmodifieddate", Field::TimestampMillis(ms)) => original.last_modified = ms.div_euclid(1000),
                ("lastmodifieddate", Field::TimestampMicros(us)) => original.last_modified = us.div_euclid(1_000_000),
                _ => {}
            }
        }
        if original.key.is_empty() {
            return Err("a row without a key".into());
        }
        if original.key.starts_with(prefix) {
            originals.push(original);
        }
    }
    Ok(originals)
}

async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("reading s3://{bucket}/{key}: {}", describe_sdk_error(&e)))?;
    Ok(object.body.collect().await.map_err(|e| format!("reading s3://{bucket}/{key}: {e}"))?.to_vec())
}

#[derive(clap::Args)]
pub struct BackfillArgs {
    /// The originals to bring through the pipeline: s3://<originals-bucket>/<prefix>.
    source: String,
    /// The jobs queue (stack output JobsQueueUrl); not needed with --dry-run.
    #[arg(long, env = "JOBS_QUEUE_URL")]
    queue_url: Option<String>,
    /// Where variants and manifests are (stack output VariantsBucketName; with --function, the
    /// function's own setting when not given).
    #[arg(long, env = "VARIANTS_BUCKET")]
    variants_bucket: Option<String>,
    /// The deployed image processor, e.g. `<ImageProcessorFunctionName>:live`: an original is
    /// current when rendered with *its* settings (VARIANTS, qualities, limits, prefixes), read
    /// from its configuration.
    #[arg(long, env = "PROCESSOR_FUNCTION")]
    function: Option<String>,
    /// Compare with this shell's settings (VARIANTS, JPEG_QUALITY, …) instead of a deployed
    /// function's: for a processor run by hand with the same environment.
    #[arg(long, conflicts_with = "function")]
    local_settings: bool,
    /// Count and classify only: what would be sent, what is already current.
    #[arg(long)]
    dry_run: bool,
    /// Messages per second at most, so a backfill never starves live uploads.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Only originals last modified at or after this (2026-11-30 or RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Only originals last modified before this.
    #[arg(long)]
    until: Option<String>,
    /// Only re-render originals whose variants are outdated, not those never processed.
    #[arg(long)]
    only_stale: bool,
    /// Read the listing from an S3 Inventory report (s3://…/manifest.json, CSV or Parquet)
    /// instead of listing.
    #[arg(long)]
    inventory: Option<String>,
    /// Where progress is recorded (default: media-edge-backfill-<bucket>.json here).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Ignore a recorded state and start from the first key.
    #[arg(long)]
    restart: bool,
    /// Print the summary as JSON (no progress bar).
    #[arg(long)]
    json: bool,
    /// Render the originals sent at this AVIF effort (`fast`, `default`, `max`); "current" then
    /// means rendered at it. Originals asked for an effort before keep theirs without this.
    #[arg(long, value_parser = ["fast", "default", "max"])]
    effort: Option<String>,
    /// Only the originals this file names: the JSON of `media-edge logs --hot N --format json`,
    /// or one key per line.
    #[arg(long, value_name = "FILE", conflicts_with = "inventory")]
    keys_from: Option<PathBuf>,
}

pub async fn command(args: BackfillArgs) -> std::process::ExitCode {
    match backfill(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("media-edge backfill: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The settings "current" is judged by: the deployed processor's environment (`--function`), or
/// this shell's (`--local-settings`). Judging by the shell's when the function differs would call
/// the whole library stale, and reruns would never converge.
async fn processor_settings(
    sdk: &aws_config::SdkConfig,
    args: &BackfillArgs,
) -> Result<HashMap<String, String>, String> {
    if args.local_settings {
        return Ok(std::env::vars().collect());
    }
    let Some(function) = &args.function else {
        return Err("name the deployed processor with --function <ImageProcessorFunctionName>:live (or \
                    PROCESSOR_FUNCTION), so \"current\" means rendered with its settings; or pass \
                    --local-settings to judge by this shell's VARIANTS, JPEG_QUALITY, …"
            .into());
    };
    let lambda = aws_sdk_lambda::Client::new(sdk);
    let found = lambda
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .map_err(|e| format!("reading the settings of {function}: {}", describe_sdk_error(&e)))?;
    let vars = found.environment().and_then(|e| e.variables()).cloned().unwrap_or_default();
    eprintln!("judging by the settings of {function} (version {})", found.version().unwrap_or("unknown"));
    Ok(vars)
}

async fn backfill(args: BackfillArgs) -> Result<(), String> {
    use media_edge_shared::env;

    let (bucket, prefix) = parse_s3_url(&args.source)?;
    if !args.dry_run && args.queue_url.is_none() {
        return Err("--queue-url (or JOBS_QUEUE_URL) is required unless --dry-run".into());
    }
    let sdk = media_edge_shared::aws::load_sdk_config().await;
    // The processor's own settings (same variables, same defaults): what "current" means.
    let deployed = processor_settings(&sdk, &args).await?;
    let vars = |name: &str| deployed.get(name).cloned();
    let settings = image_processor::lambda::config::render_settings_from_vars(&vars).map_err(|e| e.to_string())?;
    let layout = OutputLayout {
        input_prefix: env::optional(&vars, "INPUT_PREFIX").unwrap_or_else(|| "uploads/".into()),
        output_prefix: env::optional(&vars, "OUTPUT_PREFIX").unwrap_or_default(),
    };
    let variants_bucket = args
        .variants_bucket
        .clone()
        .or_else(|| env::optional(&vars, "VARIANTS_BUCKET"))
        .ok_or("--variants-bucket (or VARIANTS_BUCKET) is required")?;
    use image_processor::make::encode::AvifEffort;
    let effort_fingerprints = [AvifEffort::Fast, AvifEffort::Default, AvifEffort::Max]
        .into_iter()
        .map(|effort| {
            let mut at = settings.clone();
            at.encode.avif_effort = effort;
            (effort.name().to_string(), at.fingerprint())
        })
        .collect();
    let target = Target {
        originals_bucket: bucket.clone(),
        variants_bucket,
        layout,
        fingerprint: settings.fingerprint(),
        effort_fingerprints,
        effort: args.effort.clone(),
        since: args.since.as_deref().map(parse_time).transpose()?,
        until: args.until.as_deref().map(parse_time).transpose()?,
    };
    let target_fingerprint = target.run_fingerprint();
    let (s3, sqs) = (media_edge_shared::aws::s3_client(&sdk), aws_sdk_sqs::Client::new(&sdk));
    let mut not_found = Vec::new();
    let originals = match (&args.keys_from, &args.inventory) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let keys = keys_from(&text, &target.layout).map_err(|e| format!("{}: {e}", path.display()))?;
            let keys: Vec<String> = keys.into_iter().filter(|k| k.starts_with(&prefix)).collect();
            let (originals, problems) = originals_named(&s3, &bucket, &keys).await;
            not_found = problems;
            originals
        }
        (None, Some(url)) => read_inventory(&s3, url, &bucket, &prefix).await?,
        (None, None) => list(&s3, &bucket, &prefix).await?,
    };
    // A run over a list of keys resumes only itself, never a whole-bucket run's state.
    let run_source = match &args.keys_from {
        Some(path) => format!("{} --keys-from {}", args.source, path.display()),
        None => args.source.clone(),
    };
    let state_file = args.state.clone().unwrap_or_else(|| PathBuf::from(format!("media-edge-backfill-{bucket}.json")));
    let state = if args.restart || args.dry_run {
        State { source: run_source.clone(), ..State::default() }
    } else {
        load_state(&state_file, &run_source, &target_fingerprint)?
    };
    let plan = Plan {
        target,
        queue_url: args.queue_url.clone(),
        dry_run: args.dry_run,
        only_stale: args.only_stale,
        rate: args.rate,
        state_file: (!args.dry_run).then_some(state_file),
    };
    let bar = (!args.json).then(|| {
        let bar = indicatif::ProgressBar::new(originals.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} originals, {msg}, ETA {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let progress = |report: &Report, _total: u64| {
        if let Some(bar) = &bar {
            bar.set_position(report.originals);
            let rate = if report.seconds > 0.0 { report.sent as f64 / report.seconds } else { 0.0 };
            bar.set_message(format!(
                "{} sent ({rate:.1}/s), {} current, {} skipped, {} errors",
                report.sent, report.current, report.skipped, report.errors
            ));
        }
    };
    let mut report = run(&s3, &sqs, &plan, originals, state, &progress).await?;
    for problem in not_found {
        report.error(problem);
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
    } else {
        print!("{}", summary(&report, args.only_stale));
    }
    if report.errors > 0 {
        return Err(format!("{} originals could not be classified or sent (run again to retry them)", report.errors));
    }
    Ok(())
}

fn summary(r: &Report, only_stale: bool) -> String {
    let due = r.stale + if only_stale { 0 } else { r.missing };
    let sent = if r.dry_run {
        format!("{due} would be sent (dry run)")
    } else {
        format!(
            "{} sent ({}), {:.1} messages/s",
            r.sent,
            media_edge_shared::units::human_bytes(r.sent_bytes),
            r.sent as f64 / r.seconds.max(0.001)
        )
    };
    let mut out = format!(
        "{} originals ({}): {} current, {} stale, {} never processed, {} skipped\n{sent}\n",
        r.originals,
        media_edge_shared::units::human_bytes(r.bytes),
        r.current,
        r.stale,
        r.missing,
        r.skipped
    );
    for sample in &r.error_samples {
        out.push_str(&format!("error: {sample}\n"));
    }
    out
}
