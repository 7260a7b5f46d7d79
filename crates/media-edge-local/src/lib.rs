//! The pipeline on a local emulator (moto), as `infra/template.yaml` deploys it: [`deploy`] stands
//! the template up as a CloudFormation stack of its own (through `infra/emulator`: the SAM
//! transform, the template's own buckets, notification, topics, subscriptions, queues and redrive)
//! and reads the wiring from the stack:
//!
//! ```text
//! originals bucket ──(ObjectCreated:*, InputPrefix)──▶ uploads topic ──▶ jobs queue ──▶ processor
//!                                                                          │ maxReceiveCount
//!                                                                          ▼
//!                                                                       jobs DLQ
//! processor ──▶ variants bucket;  processor ──▶ status topic ──▶ status queue (test observer)
//!                                                   └──▶ notifier queue ──▶ notifier ──▶ chatbot topic
//! jobs DLQ ──▶ notifier (dead letters are announced)          chatbot topic ──▶ chatbot queue (test observer)
//! ```
//!
//! Plus [`poll_queue`], which feeds real queue messages to a handler the way Lambda's SQS event
//! source mapping does (batches of up to 10, ReportBatchItemFailures semantics): the stack's
//! mappings stay disabled on the emulator, which would otherwise run the function in Docker.

pub mod fault_proxy;
pub mod iam;
#[cfg(feature = "kvs-model")]
pub mod kvs_model;
pub mod lambda_runtime_api;
pub mod local_edge;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::QueueAttributeName;
pub use media_edge_shared::aws::sqs::lambda_message;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

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

/// Resource names of a deployed stack.
#[derive(Clone, Debug)]
pub struct WiringNames {
    /// The CloudFormation stack on the emulator.
    pub stack: String,
    pub originals_bucket: String,
    pub variants_bucket: String,
}

/// The pipeline as [`deploy`] stood it up: the stack's outputs and resources, and the two test
/// observers.
#[derive(Clone, Debug)]
pub struct Wiring {
    pub names: WiringNames,
    pub uploads_topic_arn: String,
    pub jobs_queue_url: String,
    pub jobs_queue_arn: String,
    pub jobs_dlq_url: String,
    pub jobs_dlq_arn: String,
    pub status_topic_arn: String,
    pub notifier_queue_url: String,
    pub notifier_queue_arn: String,
    pub chatbot_topic_arn: String,
    /// A test observer subscribed to the status topic: every status event published.
    pub status_queue_url: String,
    /// A test observer subscribed to the Chatbot topic, standing in for AWS Chatbot: what Slack
    /// would get.
    pub chatbot_queue_url: String,
    /// What `infra/emulator` wrote of the stack (infra/emulator/README.md, "The description"):
    /// outputs, resources, each function's configuration, event source mappings, queues, topics.
    pub stack: serde_json::Value,
}

impl Wiring {
    /// One of the stack's outputs (`ReleasesBucketName`, `LogsBucketName`, …).
    pub fn output(&self, name: &str) -> Result<String, Error> {
        let value = self.stack["outputs"][name].as_str();
        value.map(str::to_string).ok_or_else(|| format!("stack {} has no output {name}", self.names.stack).into())
    }

    /// A template parameter's value in this stack (`InputPrefix`, …).
    pub fn parameter(&self, name: &str) -> Result<String, Error> {
        let value = self.stack["stack"]["parameters"][name].as_str();
        value.map(str::to_string).ok_or_else(|| format!("stack {} has no parameter {name}", self.names.stack).into())
    }

    /// How often the jobs queue delivers a message before it moves to the DLQ (its redrive policy).
    pub fn jobs_max_receive_count(&self) -> Result<u32, Error> {
        let policy = self.stack["queues"]["JobsQueue"]["Attributes"]["RedrivePolicy"].as_str().unwrap_or_default();
        let policy: serde_json::Value = serde_json::from_str(policy)?;
        let count = &policy["maxReceiveCount"];
        count
            .as_u64()
            .or_else(|| count.as_str().and_then(|c| c.parse().ok()))
            .and_then(|c| u32::try_from(c).ok())
            .ok_or_else(|| format!("the jobs queue's redrive policy has no maxReceiveCount: {policy}").into())
    }

    /// The processor's deployed SQS event source mapping: its `BatchSize`, checked to report
    /// batch item failures as the poller assumes (the mapping stays disabled on the emulator).
    pub fn jobs_batch_size(&self) -> Result<i32, Error> {
        let mapping = &self.stack["event_source_mappings"]["ImageProcessorFunctionJobs"];
        let reports_failures = mapping["FunctionResponseTypes"]
            .as_array()
            .is_some_and(|types| types.iter().any(|t| t == "ReportBatchItemFailures"));
        if !reports_failures {
            return Err(format!("the jobs mapping does not report batch item failures: {mapping}").into());
        }
        let size =
            mapping["BatchSize"].as_i64().ok_or_else(|| format!("the jobs mapping has no BatchSize: {mapping}"))?;
        Ok(i32::try_from(size)?)
    }

    /// A deployed function's environment (`functions.<logical id>.Environment.Variables`).
    pub fn function_environment(&self, logical_id: &str) -> Result<HashMap<String, String>, Error> {
        let variables = &self.stack["functions"][logical_id]["Environment"]["Variables"];
        let variables = variables.as_object().ok_or_else(|| format!("no function {logical_id} in the stack"))?;
        Ok(variables.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
    }
}

/// The repository's root (this crate is `crates/media-edge-local`).
fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Deploys `infra/template.yaml` (the file `sam deploy` uses) as a stack of its own on the emulator
/// at `AWS_ENDPOINT_URL`, through `infra/emulator` (the SAM transform, the template's own buckets,
/// notification, topics, subscriptions, queues and redrive), and reads the wiring from the stack.
/// Every call is a new stack with its own names, so parallel tests never share a queue.
pub async fn deploy(clients: &LocalClients, label: &str) -> Result<Wiring, Error> {
    deploy_with(clients, label, &[]).await
}

/// [`deploy`] with template parameters (`InputPrefix`, `ProcessorBatchSize`, …).
pub async fn deploy_with(clients: &LocalClients, label: &str, parameters: &[(&str, &str)]) -> Result<Wiring, Error> {
    let stack = unique_name(&format!("media-edge-{label}"));
    let out = std::env::temp_dir().join(format!("{stack}.json"));
    let root = repository_root();
    let mut command = tokio::process::Command::new(root.join(".venv/bin/python"));
    command.current_dir(&root).args(["-m", "infra.emulator", "deploy", "--stack", &stack, "--out"]).arg(&out);
    for (key, value) in parameters {
        command.arg("--param").arg(format!("{key}={value}"));
    }
    let deployed = command.output().await.map_err(|e| format!("running infra/emulator (make venv?): {e}"))?;
    if !deployed.status.success() {
        let stderr = String::from_utf8_lossy(&deployed.stderr);
        return Err(format!("deploying stack {stack}: {}", stderr.trim()).into());
    }
    let description: serde_json::Value = serde_json::from_slice(&std::fs::read(&out)?)?;
    std::fs::remove_file(&out).ok();
    wiring_of(clients, stack, description).await
}

async fn wiring_of(clients: &LocalClients, stack: String, description: serde_json::Value) -> Result<Wiring, Error> {
    let text = |value: &serde_json::Value, what: &str| -> Result<String, Error> {
        value.as_str().map(str::to_string).ok_or_else(|| format!("stack {stack} has no {what}").into())
    };
    let output = |name: &str| text(&description["outputs"][name], name);
    let queue_arn = |logical_id: &str| text(&description["queues"][logical_id]["Attributes"]["QueueArn"], logical_id);
    let status_topic_arn = output("StatusTopicArn")?;
    let chatbot_topic_arn = output("ChatbotTopicArn")?;
    let status_queue_url = observe_topic(clients, &format!("{stack}-status-observer"), &status_topic_arn).await?;
    let chatbot_queue_url = observe_topic(clients, &format!("{stack}-chatbot-observer"), &chatbot_topic_arn).await?;
    Ok(Wiring {
        names: WiringNames {
            stack: stack.clone(),
            originals_bucket: output("OriginalsBucketName")?,
            variants_bucket: output("VariantsBucketName")?,
        },
        uploads_topic_arn: output("UploadsTopicArn")?,
        jobs_queue_url: output("JobsQueueUrl")?,
        jobs_queue_arn: queue_arn("JobsQueue")?,
        jobs_dlq_url: output("JobsDeadLetterQueueUrl")?,
        jobs_dlq_arn: queue_arn("JobsDeadLetterQueue")?,
        status_topic_arn,
        notifier_queue_url: output("NotifierQueueUrl")?,
        notifier_queue_arn: queue_arn("NotifierQueue")?,
        chatbot_topic_arn,
        status_queue_url,
        chatbot_queue_url,
        stack: description,
    })
}

/// A test observer, not part of the pipeline: a queue subscribed to `topic_arn` (raw delivery off,
/// as an SNS-to-SQS subscription delivers by default), so a test sees what was published there.
async fn observe_topic(clients: &LocalClients, name: &str, topic_arn: &str) -> Result<String, Error> {
    let queue = clients.sqs.create_queue().queue_name(name).send().await?;
    let url = queue.queue_url().map(str::to_string).ok_or_else(|| format!("queue {name} has no URL"))?;
    let arn = queue_arn(&clients.sqs, &url).await?;
    subscribe_queue(clients, topic_arn, &arn).await?;
    Ok(url)
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
    handler: F,
) -> Result<PollReport, Error>
where
    F: FnMut(SqsEvent) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    poll_queue_in_batches_of(sqs, queue_url, queue_arn, 10, idle, max_batches, handler).await
}

/// [`poll_queue`] with batches of at most `batch_size` messages (1–10), as a deployed mapping's
/// `BatchSize` says ([`Wiring::jobs_batch_size`]).
pub async fn poll_queue_in_batches_of<F, Fut>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    queue_arn: &str,
    batch_size: i32,
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
            .max_number_of_messages(batch_size.clamp(1, 10))
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
