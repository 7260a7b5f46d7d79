//! From one batch of notices to at most three Chatbot messages: a routine digest of what was
//! processed, a list of failures, and an alarm for dead letters — each visibly different and
//! each threaded per pipeline and hour, so a promotion spike is a few threads, not a flood.

use media_edge_shared::release_event::{ReleaseChange, ReleaseEvent};
use media_edge_shared::status::{Outcome, StatusEvent};
use media_edge_shared::units::human_bytes;

use crate::chatbot::{CustomNotification, Metadata, MAX_DESCRIPTION};
use crate::escape::{inert_code, inert_text};
use crate::intake::Notice;

/// Longest shown file name or reason; the rest is cut with "…".
const MAX_KEY_CHARS: usize = 120;
const MAX_REASON_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestSettings {
    /// Names the deployment in titles and thread ids, e.g. `media-edge-prod`.
    pub label: String,
    /// At most this many failures are listed one by one ("…and N more").
    pub max_listed: usize,
}

/// One message for Slack and the notices (by index) it reports: if it cannot be published, exactly
/// those notices' SQS messages are retried, and messages already reported are not posted twice.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub notification: CustomNotification,
    pub covers: Vec<usize>,
}

/// `hour` is the current UTC hour as `YYYY-MM-DDTHH` (the thread key).
pub fn build(notices: &[Notice], settings: &DigestSettings, hour: &str) -> Vec<Outgoing> {
    let batch = Batch { notices, settings, hour };
    [batch.digest(), batch.failures(), batch.dead_letters(), batch.releases()].into_iter().flatten().collect()
}

#[derive(Clone, Copy)]
enum MessageKind {
    Digest,
    Failures,
    DeadLetters,
    Releases,
}

/// One SQS batch's notices, and how to label what is posted about them.
struct Batch<'a> {
    notices: &'a [Notice],
    settings: &'a DigestSettings,
    hour: &'a str,
}

impl Batch<'_> {
    fn statuses<'o>(&'o self, outcomes: &'o [Outcome]) -> impl Iterator<Item = &'o StatusEvent> + 'o {
        self.notices.iter().filter_map(move |n| match n {
            Notice::Status(s) if outcomes.contains(&s.outcome) => Some(s.as_ref()),
            _ => None,
        })
    }

    /// Indices of the notices `accept` picks: what one message reports.
    fn covering(&self, accept: impl Fn(&Notice) -> bool) -> Vec<usize> {
        self.notices.iter().enumerate().filter(|(_, n)| accept(n)).map(|(i, _)| i).collect()
    }

    /// `kind` names the thread (per kind and hour), the event type and the keyword.
    fn notification(&self, icon: &str, summary: String, body: String, kind: MessageKind) -> CustomNotification {
        let (thread, event_type, keyword) = match kind {
            MessageKind::Digest => ("digest", "media-edge.digest", "digest"),
            MessageKind::Failures => ("failures", "media-edge.failure", "failure"),
            MessageKind::DeadLetters => ("dead-letters", "media-edge.dead-letter", "dlq"),
            MessageKind::Releases => ("releases", "media-edge.release", "release"),
        };
        let label = inert_text(&self.settings.label, 60);
        let thread_id = thread_id(&format!("{}-{thread}-{}", self.settings.label, self.hour));
        let metadata = Metadata { thread_id, summary: summary.clone(), event_type: event_type.into() };
        let mut n = CustomNotification::new(format!("{icon} {label}: {summary}"), body, metadata);
        n.content.keywords = vec!["media-edge".into(), keyword.into()];
        n
    }

    /// What was processed, skipped and stored, and what a phone now downloads.
    fn digest(&self) -> Option<Outgoing> {
        const REPORTED: [Outcome; 3] = [Outcome::Processed, Outcome::Duplicate, Outcome::Superseded];
        let processed: Vec<&StatusEvent> = self.statuses(&[Outcome::Processed]).collect();
        let duplicates = self.statuses(&[Outcome::Duplicate]).count();
        let superseded = self.statuses(&[Outcome::Superseded]).count();
        if processed.is_empty() && duplicates == 0 && superseded == 0 {
            return None;
        }
        let mut lines = vec![format!("*{}* processed", plural(processed.len(), "original"))];
        if duplicates > 0 {
            lines.push(format!("*{}* skipped (already processed)", plural(duplicates, "repeated delivery")));
        }
        if superseded > 0 {
            lines.push(format!(
                "*{}* replaced by a newer upload while processing (the newer one is reported on its own)",
                plural(superseded, "original")
            ));
        }
        lines.extend(stored_line(&processed));
        lines.extend(phone_line(&processed));
        lines.extend(not_carried_over_line(&processed));
        let summary = format!("{} processed", plural(processed.len(), "original"));
        let notification = self.notification("✅", summary, lines.join("\n"), MessageKind::Digest);
        Some(Outgoing {
            notification,
            covers: self.covering(|n| matches!(n, Notice::Status(s) if REPORTED.contains(&s.outcome))),
        })
    }

    /// Failed originals and unreadable messages, capped.
    fn failures(&self) -> Option<Outgoing> {
        let mut failures: Vec<String> = self
            .statuses(&[Outcome::Failed])
            .map(|s| {
                let (class, reason) =
                    s.failure.as_ref().map(|f| (f.class.to_string(), f.reason.as_str())).unwrap_or_default();
                format!(
                    "• {} — {} _({class})_",
                    inert_code(&s.source.key, MAX_KEY_CHARS),
                    inert_text(reason, MAX_REASON_CHARS)
                )
            })
            .collect();
        failures.extend(self.notices.iter().filter_map(|n| match n {
            Notice::Unreadable { message_id, reason } => Some(format!(
                "• unreadable message {} — {}",
                inert_code(message_id, 80),
                inert_text(reason, MAX_REASON_CHARS)
            )),
            _ => None,
        }));
        if failures.is_empty() {
            return None;
        }
        let summary = format!("{} failed", plural(failures.len(), "original"));
        let mut notification =
            self.notification("⚠️", summary, capped_list(&failures, self.settings.max_listed), MessageKind::Failures);
        notification.content.next_steps =
            vec!["Permanent failures are not retried: fix or replace the original and upload it again.".into()];
        let covers = self.covering(|n| {
            matches!(n, Notice::Status(s) if s.outcome == Outcome::Failed) || matches!(n, Notice::Unreadable { .. })
        });
        Some(Outgoing { notification, covers })
    }

    /// Jobs that exhausted their retries: announced at once, in their own thread.
    fn dead_letters(&self) -> Option<Outgoing> {
        let dead: Vec<String> = self
            .notices
            .iter()
            .filter_map(|n| match n {
                Notice::DeadLetter { keys, receive_count } => Some((keys, receive_count)),
                _ => None,
            })
            .flat_map(|(keys, count)| {
                let attempts = count.map(|c| format!(" after {c} attempts")).unwrap_or_default();
                let keys: Vec<String> =
                    if keys.is_empty() { vec![String::from("(no object named)")] } else { keys.clone() };
                keys.into_iter().map(move |k| format!("• {}{attempts}", inert_code(&k, MAX_KEY_CHARS)))
            })
            .collect();
        if dead.is_empty() {
            return None;
        }
        let summary = format!("{} dead-lettered", plural(dead.len(), "job"));
        let mut notification =
            self.notification("🚨", summary, capped_list(&dead, self.settings.max_listed), MessageKind::DeadLetters);
        notification.content.next_steps = vec![
            "These uploads were retried until the queue gave up (throttling, outages, timeouts).".into(),
            "Fix the cause, then redrive the jobs DLQ to the jobs queue.".into(),
        ];
        Some(Outgoing { notification, covers: self.covering(|n| matches!(n, Notice::DeadLetter { .. })) })
    }
}

impl Batch<'_> {
    /// Rollout state changes, in order: one line each, a rollback first in the title.
    fn releases(&self) -> Option<Outgoing> {
        let mut events: Vec<&ReleaseEvent> = self
            .notices
            .iter()
            .filter_map(|n| match n {
                Notice::Release(e) => Some(e.as_ref()),
                _ => None,
            })
            .collect();
        // The controller may publish an announcement again (its bookkeeping write failed after
        // SNS took it): the same id is the same change, reported once.
        let mut seen = std::collections::HashSet::new();
        events.retain(|e| e.id.is_empty() || seen.insert(e.id.as_str()));
        if events.is_empty() {
            return None;
        }
        let lines: Vec<String> = events.iter().map(|e| release_line(e)).collect();
        let rolled_back = events.iter().filter(|e| e.change == ReleaseChange::RolledBack).count();
        let (icon, summary) = match rolled_back {
            0 => ("🚦", plural(events.len(), "release change")),
            n => ("⏪", format!("{} rolled back", plural(n, "rollout"))),
        };
        let mut notification =
            self.notification(icon, summary, capped_list(&lines, self.settings.max_listed), MessageKind::Releases);
        if rolled_back > 0 {
            notification.content.next_steps =
                vec!["Viewers are back on stable. Fix the release, publish a new version and start a new rollout."
                    .into()];
        }
        Some(Outgoing { notification, covers: self.covering(|n| matches!(n, Notice::Release(_))) })
    }
}

/// "• sdk 1.5.0: 5% → 25%" and the like.
fn release_line(e: &ReleaseEvent) -> String {
    let what = match e.change {
        ReleaseChange::Advanced => format!("{}% → {}%", e.weight_from, e.weight_to),
        ReleaseChange::Promoted => "promoted to stable".into(),
        ReleaseChange::RolledBack => format!("*rolled back* at {}%", e.weight_from),
        ReleaseChange::Held => format!("holding at {}%", e.weight_from),
        ReleaseChange::Operator => String::new(),
    };
    let reason = e.reason.as_deref().map(|r| inert_text(r, MAX_REASON_CHARS)).unwrap_or_default();
    let detail = match (what.is_empty(), reason.is_empty()) {
        (true, _) => reason,
        (false, true) => what,
        (false, false) => format!("{what}: {reason}"),
    };
    format!("• {} {}: {detail}", inert_code(&e.channel, 64), inert_code(&e.release, 64))
}

/// Originals that held something the variants do not carry (an HDR gain map, an MPO's further
/// pictures): how many, and the first as an example.
fn not_carried_over_line(processed: &[&StatusEvent]) -> Option<String> {
    let with: Vec<&&StatusEvent> = processed.iter().filter(|s| !s.not_carried_over.is_empty()).collect();
    let first = with.first()?;
    Some(format!(
        "*{}* with something the variants do not carry, e.g. {}: {}",
        plural(with.len(), "original"),
        inert_code(&first.source.key, MAX_KEY_CHARS),
        inert_text(&first.not_carried_over.join("; "), MAX_REASON_CHARS)
    ))
}

/// "3 images and 1 video stored (1.2 MB) from 4.0 MB of originals".
fn stored_line(processed: &[&StatusEvent]) -> Option<String> {
    let bytes_in: u64 = processed.iter().map(|s| s.input_bytes).sum();
    let bytes_out: u64 = processed.iter().map(|s| s.output_bytes).sum();
    // Variants, not files: an image variant is stored in several formats.
    let (mut images, mut videos) = (0, 0);
    for status in processed {
        for name in status.variant_names() {
            let is_video = status.variants.iter().any(|v| v.name == name && v.content_type.starts_with("video/"));
            *(if is_video { &mut videos } else { &mut images }) += 1;
        }
    }
    (!processed.is_empty()).then(|| {
        format!(
            "{} and {} stored ({}) from {} of originals",
            plural(images, "image"),
            plural(videos, "video"),
            human_bytes(bytes_out),
            human_bytes(bytes_in)
        )
    })
}

/// What a phone downloads per original (its mobile rendition) against the originals themselves.
/// The sum of every variant says nothing a reader can use, and can exceed a small original.
fn phone_line(processed: &[&StatusEvent]) -> Option<String> {
    let (mut phone, mut original) = (0u64, 0u64);
    for status in processed {
        // The smallest file of the rendition: what a current phone browser is sent.
        let pick = |name: &str| status.variants.iter().filter(|v| v.name == name).map(|v| v.bytes).min();
        if let Some(bytes) = pick("video-mobile").or_else(|| pick("video")).or_else(|| pick("mobile")) {
            phone += bytes;
            original += status.input_bytes;
        }
    }
    if original == 0 {
        return None;
    }
    let (phone_text, original_text) = (human_bytes(phone), human_bytes(original));
    Some(if phone < original {
        let less = 100.0 * (1.0 - phone as f64 / original as f64);
        format!("A phone downloads {phone_text} instead of {original_text} of originals ({less:.0}% less)")
    } else {
        format!("A phone downloads {phone_text}; the originals ({original_text}) are smaller, as small files often are")
    })
}

/// At most `max_listed` lines, within the description budget, then "…and N more".
fn capped_list(lines: &[String], max_listed: usize) -> String {
    let budget = MAX_DESCRIPTION - 40; // room for the "and N more" line
    let mut text = String::new();
    let mut shown = 0;
    for line in lines {
        if shown == max_listed || text.chars().count() + line.chars().count() + 1 > budget {
            break;
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(line);
        shown += 1;
    }
    if shown < lines.len() {
        text.push_str(&format!("\n…and {} more", lines.len() - shown));
    }
    text
}

/// "1 original", "2 originals", "3 repeated deliveries".
fn plural(n: usize, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("{n} {noun}"),
        (_, Some(stem)) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{n} {stem}ies"),
        _ => format!("{n} {noun}s"),
    }
}

fn thread_id(raw: &str) -> String {
    raw.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.:".contains(c) { c } else { '-' }).take(128).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use media_edge_shared::status::{FailureReport, SourceObject, StatusEvent, VariantReport};
    use media_edge_shared::FailureClass;

    fn build(notices: &[Notice], settings: &DigestSettings, hour: &str) -> Vec<CustomNotification> {
        super::build(notices, settings, hour).into_iter().map(|o| o.notification).collect()
    }

    fn settings() -> DigestSettings {
        DigestSettings { label: "media-edge-prod".into(), max_listed: 3 }
    }

    fn status(key: &str, outcome: Outcome) -> Notice {
        let mut s = StatusEvent::new(
            "image-processor",
            outcome,
            SourceObject { bucket: Some("b".into()), key: key.into(), etag: None, version_id: None },
        );
        if outcome == Outcome::Processed {
            s.input_bytes = 1_000_000;
            s.output_bytes = 250_000;
            s.variants = vec![VariantReport {
                name: "mobile".into(),
                key: "k".into(),
                width: 1,
                height: 1,
                bytes: 250_000,
                content_type: "image/jpeg".into(),
                duration_ms: None,
                fps: None,
            }];
        }
        if outcome == Outcome::Failed {
            s.failure =
                Some(FailureReport { class: FailureClass::Permanent, reason: "corrupt or truncated image".into() });
        }
        Notice::Status(Box::new(s))
    }

    #[test]
    fn routine_batch_is_one_digest() {
        let notices = vec![
            status("a.jpg", Outcome::Processed),
            status("b.jpg", Outcome::Processed),
            status("a.jpg", Outcome::Duplicate),
        ];
        let out = build(&notices, &settings(), "2026-11-22T03");
        assert_eq!(out.len(), 1);
        let digest = &out[0];
        digest.validate().unwrap();
        assert_eq!(digest.content.title, "✅ media-edge-prod: 2 originals processed");
        assert!(digest.content.description.contains("*1 repeated delivery* skipped"), "{}", digest.content.description);
        assert!(
            digest.content.description.contains("2 images and 0 videos stored (500.0 KB) from 2.0 MB of originals\nA phone downloads 500.0 KB instead of 2.0 MB of originals (75% less)"),
            "{}",
            digest.content.description
        );
        assert_eq!(digest.metadata.thread_id, "media-edge-prod-digest-2026-11-22T03");
        assert_eq!(digest.metadata.event_type, "media-edge.digest");
    }

    #[test]
    fn what_variants_do_not_carry_is_mentioned_once() {
        let mut hdr = status("phone/hdr.jpg", Outcome::Processed);
        if let Notice::Status(s) = &mut hdr {
            s.not_carried_over = vec!["HDR gain map (Ultra HDR): the variants show the standard-range picture".into()];
        }
        let plain = status("plain.jpg", Outcome::Processed);
        let text = build(&[hdr, plain], &settings(), "2026-11-22T03")[0].content.description.clone();
        assert!(
            text.contains("*1 original* with something the variants do not carry, e.g. `phone/hdr.jpg`: HDR gain map"),
            "{text}"
        );
        let text = build(&[status("plain.jpg", Outcome::Processed)], &settings(), "2026-11-22T03")[0]
            .content
            .description
            .clone();
        assert!(!text.contains("do not carry"), "{text}");
    }

    #[test]
    fn variants_larger_than_small_originals_are_described_truthfully() {
        // A 4.4 KB logo whose mobile PNG is 13.3 KB: no "-200% smaller".
        let mut logo = status("logo.png", Outcome::Processed);
        if let Notice::Status(s) = &mut logo {
            s.input_bytes = 4_400;
            s.variants[0].bytes = 13_300;
            s.output_bytes = 43_500;
        }
        let text = build(&[logo], &settings(), "2026-11-22T03")[0].content.description.clone();
        assert!(text.contains("A phone downloads 13.3 KB; the originals (4.4 KB) are smaller"), "{text}");
        assert!(!text.contains('%'), "no percentage that could be negative: {text}");
    }

    #[test]
    fn failures_and_dead_letters_are_separate_and_capped() {
        let mut notices: Vec<Notice> = (0..5).map(|i| status(&format!("bad-{i}.jpg"), Outcome::Failed)).collect();
        notices.push(Notice::DeadLetter { keys: vec!["uploads/stuck.gif".into()], receive_count: Some(5) });
        notices.push(Notice::Unreadable { message_id: "m-9".into(), reason: "message body is not JSON".into() });
        let out = build(&notices, &settings(), "2026-11-22T03");
        assert_eq!(out.len(), 2, "no digest without successes; one failure list; one DLQ alarm");
        let failures = &out[0];
        failures.validate().unwrap();
        assert!(failures.content.title.starts_with("⚠️"));
        assert_eq!(failures.content.description.lines().count(), 4, "{}", failures.content.description);
        assert!(failures.content.description.ends_with("…and 3 more"));
        assert!(failures.content.description.contains("• `bad-0.jpg` — corrupt or truncated image _(permanent)_"));
        let dead = &out[1];
        dead.validate().unwrap();
        assert!(dead.content.title.starts_with("🚨") && dead.content.title.contains("1 job dead-lettered"));
        assert!(dead.content.description.contains("`uploads/stuck.gif` after 5 attempts"));
        assert_ne!(failures.metadata.thread_id, dead.metadata.thread_id);
    }

    #[test]
    fn every_notice_is_covered_by_exactly_the_message_that_reports_it() {
        let notices = vec![
            status("a.jpg", Outcome::Processed),
            status("bad.jpg", Outcome::Failed),
            Notice::DeadLetter { keys: vec!["uploads/stuck.gif".into()], receive_count: Some(5) },
            status("a.jpg", Outcome::Duplicate),
            Notice::Unreadable { message_id: "m".into(), reason: "not JSON".into() },
            status("old.jpg", Outcome::Superseded),
        ];
        let out = super::build(&notices, &settings(), "2026-11-22T03");
        let covers: Vec<(&str, Vec<usize>)> =
            out.iter().map(|o| (o.notification.metadata.event_type.as_str(), o.covers.clone())).collect();
        assert_eq!(
            covers,
            [
                ("media-edge.digest", vec![0, 3, 5]),
                ("media-edge.failure", vec![1, 4]),
                ("media-edge.dead-letter", vec![2])
            ]
        );
        assert!(out[0].notification.content.description.contains("*1 original* replaced by a newer upload"));
    }

    #[test]
    fn an_announcement_published_twice_is_reported_once_and_both_copies_are_acknowledged() {
        let advanced = ReleaseEvent::new("sdk", "1.5.0", ReleaseChange::Advanced, 1, 5, None);
        let rolled_back =
            ReleaseEvent::new("sdk", "1.5.0", ReleaseChange::RolledBack, 5, 0, Some("gate errors in ALARM".into()));
        let notices: Vec<Notice> =
            [&advanced, &advanced, &rolled_back].into_iter().map(|e| Notice::Release(Box::new(e.clone()))).collect();
        let out = super::build(&notices, &settings(), "2026-11-22T03");
        assert_eq!(out.len(), 1);
        let text = &out[0].notification.content.description;
        assert_eq!(text.matches("1% → 5%").count(), 1, "{text}");
        assert_eq!(text.lines().count(), 2, "{text}");
        assert_eq!(out[0].covers, [0, 1, 2]);
    }

    #[test]
    fn huge_batches_stay_within_limits() {
        let long = "x".repeat(5000);
        let notices: Vec<Notice> = (0..500).map(|i| status(&format!("{long}{i}.jpg"), Outcome::Failed)).collect();
        let settings = DigestSettings { label: "l".repeat(500), max_listed: 1000 };
        for n in build(&notices, &settings, "2026-11-22T03") {
            n.validate().unwrap();
            assert!(n.content.description.contains("more"));
        }
    }

    #[test]
    fn hostile_file_names_are_inert() {
        let notices = vec![status("<!channel> @here *free* <https://evil.example|login>\n.jpg", Outcome::Failed)];
        let out = build(&notices, &settings(), "2026-11-22T03");
        let text = &out[0].content.description;
        out[0].validate().unwrap();
        assert!(!text.contains("<!channel>") && !text.contains("<https"), "{text}");
        assert!(!text.contains("@here"), "{text}");
        assert_eq!(text.lines().count(), 1, "a name cannot add lines: {text}");
    }
}
