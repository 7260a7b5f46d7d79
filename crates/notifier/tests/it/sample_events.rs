//! The sample events in `events/notifier/` parse and produce valid notifications.

use aws_lambda_events::event::sqs::SqsEvent;
use notifier::digest::{build, DigestSettings};
use notifier::intake::{read_message, Notice};

fn sample(name: &str) -> SqsEvent {
    let path = format!("{}/../../events/notifier/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn event_types(name: &str) -> Vec<String> {
    let notices: Vec<Notice> = sample(name).records.iter().map(read_message).collect();
    let settings = DigestSettings { label: "media-edge".into(), max_listed: 15 };
    build(&notices, &settings, "2026-11-22T03")
        .into_iter()
        .map(|n| {
            n.notification.validate().unwrap();
            n.notification.metadata.event_type
        })
        .collect()
}

#[test]
fn status_batch() {
    assert_eq!(event_types("status-batch.json"), ["media-edge.digest", "media-edge.failure"]);
}

#[test]
fn dead_letter() {
    assert_eq!(event_types("dead-letter.json"), ["media-edge.dead-letter"]);
}

#[test]
fn batch_with_poison() {
    assert_eq!(event_types("batch-with-poison.json"), ["media-edge.digest", "media-edge.failure"]);
}
