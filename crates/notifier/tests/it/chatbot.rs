//! Status events in through the real SNS → SQS wiring on the emulator, Chatbot JSON out on the
//! Chatbot topic (read back from a queue subscribed to it, standing in for AWS Chatbot).

use std::time::Duration;

use media_edge_local::{deploy, drain, poll_queue, sns_message, LocalClients, Wiring};
use media_edge_shared::aws::StatusPublisher;
use media_edge_shared::status::{FailureReport, Outcome, SourceObject, StatusEvent, VariantReport};
use media_edge_shared::FailureClass;
use notifier::chatbot::CustomNotification;
use notifier::{handle_batch, ChatbotPublisher, NotifierConfig};

pub(crate) async fn setup(label: &str) -> (LocalClients, Wiring, ChatbotPublisher, NotifierConfig) {
    assert!(std::env::var("AWS_ENDPOINT_URL").is_ok(), "run with `make test` (needs the local emulator)");
    let clients = LocalClients::from_env().await;
    let wiring = deploy(&clients, label).await.unwrap();
    let publisher = ChatbotPublisher::new(clients.sns.clone(), wiring.chatbot_topic_arn.clone());
    // The notifier as deployed: its topic and label (the stack's name) from the function's environment.
    let environment = wiring.function_environment("NotifierFunction").unwrap();
    let config = NotifierConfig::from_vars(&|name: &str| environment.get(name).cloned()).unwrap();
    assert_eq!(config.chatbot_topic_arn, wiring.chatbot_topic_arn);
    (clients, wiring, publisher, config)
}

pub(crate) fn event(key: &str, outcome: Outcome) -> StatusEvent {
    let mut s = StatusEvent::new(
        "image-processor",
        outcome,
        SourceObject { bucket: Some("originals".into()), key: key.into(), etag: Some("e".into()), version_id: None },
    );
    match outcome {
        Outcome::Processed => {
            s.input_bytes = 4 << 20;
            s.output_bytes = 1 << 20;
            s.variants = vec![VariantReport {
                name: "video".into(),
                key: format!("{key}/v/video.mp4"),
                width: 640,
                height: 360,
                bytes: 1 << 20,
                content_type: "video/mp4".into(),
                duration_ms: Some(1000),
                fps: Some(10.0),
            }];
        }
        Outcome::Failed => {
            s.failure = Some(FailureReport { class: FailureClass::Permanent, reason: "over limits: too big".into() })
        }
        Outcome::Duplicate | Outcome::Superseded => {}
    }
    s
}

async fn run_notifier(clients: &LocalClients, queue_url: &str, publisher: &ChatbotPublisher, config: &NotifierConfig) {
    let arn = media_edge_local::queue_arn(&clients.sqs, queue_url).await.unwrap();
    let report = poll_queue(&clients.sqs, queue_url, &arn, Duration::from_secs(1), 10, |event| async move {
        handle_batch(event, publisher, config, "2026-11-22T03").await
    })
    .await
    .unwrap();
    assert_eq!(report.retried, 0, "{report:?}");
}

pub(crate) async fn chatbot_messages(
    clients: &LocalClients,
    wiring: &Wiring,
) -> Vec<(serde_json::Value, CustomNotification)> {
    drain(&clients.sqs, &wiring.chatbot_queue_url, Duration::from_secs(2))
        .await
        .unwrap()
        .iter()
        .map(|body| {
            let message = sns_message(body).unwrap();
            let notification: CustomNotification = serde_json::from_str(&message).unwrap();
            notification.validate().unwrap();
            (serde_json::from_str(&message).unwrap(), notification)
        })
        .collect()
}

#[tokio::test]
async fn status_events_become_exactly_the_expected_chatbot_json() {
    let (clients, wiring, publisher, config) = setup("notify").await;
    let status = StatusPublisher::new(clients.sns.clone(), wiring.status_topic_arn.clone());
    status.publish(&event("uploads/sale.gif", Outcome::Processed)).await.unwrap();
    status.publish(&event("uploads/<!channel> @here *win*.jpg", Outcome::Failed)).await.unwrap();

    run_notifier(&clients, &wiring.notifier_queue_url, &publisher, &config).await;
    let messages = chatbot_messages(&clients, &wiring).await;
    assert_eq!(messages.len(), 2, "{messages:#?}");
    let (digest, _) = messages.iter().find(|(_, n)| n.metadata.event_type == "media-edge.digest").unwrap();
    // The deployment's label is the stack's name (DEPLOYMENT_LABEL: !Ref AWS::StackName).
    let label = &wiring.names.stack;
    assert_eq!(
        digest,
        &serde_json::json!({
            "version": "1.0",
            "source": "custom",
            "content": {
                "textType": "client-markdown",
                "title": format!("✅ {label}: 1 original processed"),
                "description": "*1 original* processed\n0 images and 1 video stored (1.0 MB) from 4.2 MB of originals\nA phone downloads 1.0 MB instead of 4.2 MB of originals (75% less)",
                "keywords": ["media-edge", "digest"]
            },
            "metadata": {
                "threadId": format!("{label}-digest-2026-11-22T03"),
                "summary": "1 original processed",
                "eventType": "media-edge.digest"
            }
        })
    );
    let (failure_json, failure) = messages.iter().find(|(_, n)| n.metadata.event_type == "media-edge.failure").unwrap();
    assert_eq!(
        failure.content.description,
        "• `uploads/&lt;!channel&gt; @\u{200b}here ∗win∗.jpg` — over limits: too big _(permanent)_"
    );
    assert_eq!(failure_json["content"]["nextSteps"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn poison_message_is_listed_and_does_not_block_the_batch() {
    let (clients, wiring, publisher, config) = setup("poison").await;
    let status = StatusPublisher::new(clients.sns.clone(), wiring.status_topic_arn.clone());
    status.publish(&event("uploads/ok.jpg", Outcome::Processed)).await.unwrap();
    clients.sqs.send_message().queue_url(&wiring.notifier_queue_url).message_body("{not json").send().await.unwrap();

    run_notifier(&clients, &wiring.notifier_queue_url, &publisher, &config).await;
    let messages = chatbot_messages(&clients, &wiring).await;
    let types: Vec<&str> = messages.iter().map(|(_, n)| n.metadata.event_type.as_str()).collect();
    assert!(types.contains(&"media-edge.digest"), "{types:?}");
    let failure = messages.iter().find(|(_, n)| n.metadata.event_type == "media-edge.failure").unwrap();
    assert!(failure.1.content.description.contains("unreadable message"), "{}", failure.1.content.description);
    assert!(drain(&clients.sqs, &wiring.notifier_queue_url, Duration::from_secs(0)).await.unwrap().is_empty());
}

#[tokio::test]
async fn dead_lettered_job_is_announced() {
    let (clients, wiring, publisher, config) = setup("dlq").await;
    let body = std::fs::read_to_string(format!(
        "{}/../../events/image-processor/sns-wrapped.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let sample: serde_json::Value = serde_json::from_str(&body).unwrap();
    let job_body = sample["Records"][0]["body"].as_str().unwrap();
    clients.sqs.send_message().queue_url(&wiring.jobs_dlq_url).message_body(job_body).send().await.unwrap();

    run_notifier(&clients, &wiring.jobs_dlq_url, &publisher, &config).await;
    let messages = chatbot_messages(&clients, &wiring).await;
    assert_eq!(messages.len(), 1);
    let alarm = &messages[0].1;
    assert_eq!(alarm.metadata.event_type, "media-edge.dead-letter");
    assert!(alarm.content.title.starts_with("🚨"));
    assert!(
        alarm.content.description.contains("`uploads/2026/promo/beach photo (rotated).jpg`"),
        "{}",
        alarm.content.description
    );
}

#[tokio::test]
async fn a_topic_that_refuses_publishing_loses_nothing() {
    // A permanent SNS error (the topic does not exist): the events come back, to be retried and
    // dead-lettered, instead of being acknowledged unreported.
    let (clients, wiring, _, config) = setup("gone").await;
    let gone = ChatbotPublisher::new(clients.sns.clone(), format!("{}-deleted", wiring.chatbot_topic_arn));
    let status = StatusPublisher::new(clients.sns.clone(), wiring.status_topic_arn.clone());
    status.publish(&event("uploads/ok.jpg", Outcome::Processed)).await.unwrap();
    status.publish(&event("uploads/bad.jpg", Outcome::Failed)).await.unwrap();

    let arn = media_edge_local::queue_arn(&clients.sqs, &wiring.notifier_queue_url).await.unwrap();
    let report = poll_queue(&clients.sqs, &wiring.notifier_queue_url, &arn, Duration::from_secs(1), 1, |event| {
        let (gone, config) = (&gone, &config);
        async move { handle_batch(event, gone, config, "2026-11-22T03").await }
    })
    .await
    .unwrap();
    assert_eq!((report.messages, report.retried), (2, 2), "{report:?}");
    assert!(chatbot_messages(&clients, &wiring).await.is_empty());
}
