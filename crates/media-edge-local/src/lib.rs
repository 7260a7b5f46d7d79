//! The same wiring `infra/template.yaml` declares, provisioned on a local emulator (moto):
//!
//! ```text
//! originals bucket ──(ObjectCreated:*, prefix uploads/)──▶ uploads topic ──▶ jobs queue ──▶ processor
//!                                                                              │ maxReceiveCount 5
//!                                                                              ▼
//!                                                                           jobs DLQ
//! processor ──▶ variants bucket;  processor ──▶ status topic ──▶ status queue (observer)
//!                                                   └──▶ notifier queue ──▶ notifier ──▶ chatbot topic
//! jobs DLQ ──▶ notifier (dead letters are announced)          chatbot topic ──▶ chatbot queue (observer)
//! ```
//!
//! Plus [`poll_queue`], which feeds real queue messages to a handler the way Lambda's SQS event
//! source mapping does (batches of up to 10, ReportBatchItemFailures semantics).

pub mod fault_proxy;
pub mod iam;
#[cfg(feature = "kvs-model")]
pub mod kvs_model;
pub mod lambda_runtime_api;

use std::future::Future;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter, S3KeyFilter,
    TopicConfiguration,
};
use aws_sdk_sqs::types::QueueAttributeName;
pub use media_edge_shared::aws::sqs::lambda_message;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Settings shared with the template (checked against it by the infra tests).
pub const INPUT_PREFIX: &str = "uploads/";
pub const MAX_RECEIVE_COUNT: u32 = 5;
pub const JOBS_VISIBILITY_TIMEOUT_SECONDS: u32 = 5400;

#[derive(Clone, Debug)]
pub struct LocalClients {
    pub s3: aws_sdk_s3::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl LocalClients {
    /// Clients for whatever `AWS_ENDPOINT_URL` points at.
    pub async fn from_env() -> Self {
        let sdk = media_edge_shared::aws::load_sdk_config().await;
        LocalClients {
            s3: media_edge_shared::aws::s3_client(&sdk),
            sns: media_edge_shared::aws::sns_client(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
        }
    }
}

/// `label` made unique to this process and call (process id, time, counter): names for buckets,
/// topics, queues and directories that parallel tests never share. Lowercase, for S3.
pub fn unique_name(label: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{label}-{}-{nanos:x}{n}", std::process::id()).to_ascii_lowercase()
}

/// Resource names; a suffix keeps parallel tests apart.
#[derive(Clone, Debug)]
pub struct WiringNames {
    pub originals_bucket: String,
    pub variants_bucket: String,
    pub uploads_topic: String,
    pub jobs_queue: String,
    pub jobs_dlq: String,
    pub status_topic: String,
    pub status_queue: String,
    pub notifier_queue: String,
    pub chatbot_topic: String,
    pub chatbot_queue: String,
}

impl WiringNames {
    pub fn with_suffix(suffix: &str) -> Self {
        WiringNames {
            originals_bucket: format!("media-edge-originals-{suffix}"),
            variants_bucket: format!("media-edge-variants-{suffix}"),
            uploads_topic: format!("media-edge-uploads-{suffix}"),
            jobs_queue: format!("media-edge-jobs-{suffix}"),
            jobs_dlq: format!("media-edge-jobs-dlq-{suffix}"),
            status_topic: format!("media-edge-status-{suffix}"),
            status_queue: format!("media-edge-status-{suffix}"),
            notifier_queue: format!("media-edge-notifier-{suffix}"),
            chatbot_topic: format!("media-edge-chatbot-{suffix}"),
            chatbot_queue: format!("media-edge-chatbot-{suffix}"),
        }
    }
}

/// What [`provision`] created.
#[derive(Clone, Debug)]
pub struct Wiring {
    pub names: WiringNames,
    pub uploads_topic_arn: String,
    pub jobs_queue_url: String,
    pub jobs_queue_arn: String,
    pub jobs_dlq_url: String,
    pub status_topic_arn: String,
    pub status_queue_url: String,
    pub jobs_dlq_arn: String,
    pub notifier_queue_url: String,
    pub notifier_queue_arn: String,
    pub chatbot_topic_arn: String,
    /// Subscribed to the Chatbot topic, standing in for AWS Chatbot: what Slack would get.
    pub chatbot_queue_url: String,
}

pub async fn provision(clients: &LocalClients, names: &WiringNames) -> Result<Wiring, Error> {
    for bucket in [&names.originals_bucket, &names.variants_bucket] {
        clients.s3.create_bucket().bucket(bucket).send().await?;
    }
    let uploads_topic_arn = create_topic(clients, &names.uploads_topic).await?;
    let status_topic_arn = create_topic(clients, &names.status_topic).await?;

    let (jobs_dlq_url, jobs_dlq_arn) = create_queue(clients, &names.jobs_dlq, &[]).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": &jobs_dlq_arn,
        "maxReceiveCount": MAX_RECEIVE_COUNT.to_string(),
    })
    .to_string();
    let visibility = JOBS_VISIBILITY_TIMEOUT_SECONDS.to_string();
    let (jobs_queue_url, jobs_queue_arn) = create_queue(
        clients,
        &names.jobs_queue,
        &[(QueueAttributeName::RedrivePolicy, redrive.as_str()), (QueueAttributeName::VisibilityTimeout, &visibility)],
    )
    .await?;
    subscribe_queue(clients, &uploads_topic_arn, &jobs_queue_arn).await?;

    let (status_queue_url, status_queue_arn) = create_queue(clients, &names.status_queue, &[]).await?;
    subscribe_queue(clients, &status_topic_arn, &status_queue_arn).await?;
    let (notifier_queue_url, notifier_queue_arn) = create_queue(clients, &names.notifier_queue, &[]).await?;
    subscribe_queue(clients, &status_topic_arn, &notifier_queue_arn).await?;
    let chatbot_topic_arn = create_topic(clients, &names.chatbot_topic).await?;
    let (chatbot_queue_url, chatbot_queue_arn) = create_queue(clients, &names.chatbot_queue, &[]).await?;
    subscribe_queue(clients, &chatbot_topic_arn, &chatbot_queue_arn).await?;

    // Last, as in CloudFormation: S3 validates the destination when the notification is set.
    let filter = NotificationConfigurationFilter::builder()
        .key(
            S3KeyFilter::builder()
                .filter_rules(FilterRule::builder().name(FilterRuleName::Prefix).value(INPUT_PREFIX).build())
                .build(),
        )
        .build();
    let topic_config = TopicConfiguration::builder()
        .id("originals-to-uploads-topic")
        .topic_arn(&uploads_topic_arn)
        .events(Event::from("s3:ObjectCreated:*"))
        .filter(filter)
        .build()?;
    clients
        .s3
        .put_bucket_notification_configuration()
        .bucket(&names.originals_bucket)
        .notification_configuration(NotificationConfiguration::builder().topic_configurations(topic_config).build())
        .send()
        .await?;

    Ok(Wiring {
        names: names.clone(),
        uploads_topic_arn,
        jobs_queue_url,
        jobs_queue_arn,
        jobs_dlq_url,
        status_topic_arn,
        status_queue_url,
        jobs_dlq_arn,
        notifier_queue_url,
        notifier_queue_arn,
        chatbot_topic_arn,
        chatbot_queue_url,
    })
}

async fn create_topic(clients: &LocalClients, name: &str) -> Result<String, Error> {
    let topic = clients.sns.create_topic().name(name).send().await?;
    topic.topic_arn().map(str::to_string).ok_or_else(|| format!("topic {name} has no ARN").into())
}

async fn create_queue(
    clients: &LocalClients,
    name: &str,
    attributes: &[(QueueAttributeName, &str)],
) -> Result<(String, String), Error> {
    let mut request = clients.sqs.create_queue().queue_name(name);
    for (key, value) in attributes {
        request = request.attributes(key.clone(), *value);
    }
    let url = request.send().await?.queue_url().unwrap_or_default().to_string();
    let arn = queue_arn(&clients.sqs, &url).await?;
    Ok((url, arn))
}

async fn subscribe_queue(clients: &LocalClients, topic_arn: &str, queue_arn: &str) -> Result<(), Error> {
    clients.sns.subscribe().topic_arn(topic_arn).protocol("sqs").endpoint(queue_arn).send().await?;
    Ok(())
}

/// Receives every message currently in the queue (long-polling `wait` for the first one), deleting
/// each one it returns.
pub async fn drain(sqs: &aws_sdk_sqs::Client, queue_url: &str, wait: Duration) -> Result<Vec<String>, Error> {
    let mut bodies = Vec::new();
    let mut wait_seconds = wait.as_secs().min(20) as i32;
    loop {
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds)
            .send()
            .await?;
        let messages = received.messages();
        if messages.is_empty() {
            return Ok(bodies);
        }
        for message in messages {
            bodies.push(message.body().unwrap_or_default().to_string());
            if let Some(handle) = message.receipt_handle() {
                sqs.delete_message().queue_url(queue_url).receipt_handle(handle).send().await?;
            }
        }
        wait_seconds = 0;
    }
}

/// The `Message` of an SNS envelope as SNS → SQS delivers it (RawMessageDelivery off).
pub fn sns_message(body: &str) -> Result<String, Error> {
    let envelope: serde_json::Value = serde_json::from_str(body)?;
    envelope
        .get("Message")
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .ok_or_else(|| format!("not an SNS envelope: {body}").into())
}

/// What one [`poll_queue`] run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollReport {
    pub batches: usize,
    pub messages: usize,
    /// Messages the handler asked to retry (left on the queue, visible again at once).
    pub retried: usize,
}

/// Drives `handler` like Lambda's SQS event source mapping: receive up to 10 messages, invoke,
/// delete what succeeded, make the reported failures visible again. Stops when the queue has been
/// empty for `idle`, or after `max_batches`.
pub async fn poll_queue<F, Fut>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    queue_arn: &str,
    idle: Duration,
    max_batches: usize,
    mut handler: F,
) -> Result<PollReport, Error>
where
    F: FnMut(SqsEvent) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    let mut report = PollReport::default();
    while report.batches < max_batches {
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(idle.as_secs().min(20) as i32)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await?;
        let messages = received.messages().to_vec();
        if messages.is_empty() {
            break;
        }
        let mut event = SqsEvent::default();
        event.records = messages.iter().map(|m| lambda_message(m, Some(queue_arn))).collect();
        let response = handler(event).await;
        report.batches += 1;
        report.messages += messages.len();
        for message in &messages {
            let id = message.message_id().unwrap_or_default();
            let handle = message.receipt_handle().unwrap_or_default();
            let failed = response.batch_item_failures.iter().any(|f| f.item_identifier == id);
            if failed {
                report.retried += 1;
                sqs.change_message_visibility()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await?;
            } else {
                sqs.delete_message().queue_url(queue_url).receipt_handle(handle).send().await?;
            }
        }
    }
    Ok(report)
}

/// The ARN of a queue, by URL.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<String, Error> {
    let attrs =
        sqs.get_queue_attributes().queue_url(queue_url).attribute_names(QueueAttributeName::QueueArn).send().await?;
    attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| format!("queue {queue_url} has no ARN").into())
}
