//! Messages an invocation cannot start before its deadline go back on the queue as new messages.
//!
//! Handing them back as batch item failures would make each one wait out the queue's visibility
//! timeout (90 minutes) and count a receive towards the dead-letter limit, though it was never
//! tried: with slow GIFs ahead of it, an upload could reach the DLQ untried. A new message with the
//! same body is visible at once and starts with no receives; the original is then acknowledged.
//! Processing is idempotent (the manifest check), so a copy that races the original is harmless.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lambda_events::event::sqs::SqsMessage;
use media_edge_shared::aws::classify_sdk_error;
use media_edge_shared::Failure;

#[derive(Clone, Debug)]
pub struct Requeue {
    sqs: aws_sdk_sqs::Client,
    /// Queue URLs by queue ARN, looked up once per cold start.
    urls: Arc<Mutex<HashMap<String, String>>>,
}

impl Requeue {
    pub fn new(sqs: aws_sdk_sqs::Client) -> Self {
        Requeue { sqs, urls: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// Sends `message`'s body to the queue it came from, as a new message.
    pub async fn send_again(&self, message: &SqsMessage) -> Result<(), Failure> {
        let arn = message.event_source_arn.as_deref().ok_or_else(|| Failure::permanent("message names no queue"))?;
        let body = message.body.as_deref().ok_or_else(|| Failure::permanent("message has no body"))?;
        let url = self.queue_url(arn).await?;
        self.sqs
            .send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| classify_sdk_error("send message again", &e))?;
        Ok(())
    }

    async fn queue_url(&self, arn: &str) -> Result<String, Failure> {
        if let Some(url) = self.urls.lock().ok().and_then(|urls| urls.get(arn).cloned()) {
            return Ok(url);
        }
        let (account, name) =
            queue_of_arn(arn).ok_or_else(|| Failure::permanent(format!("{arn} is not an SQS queue ARN")))?;
        let found = self
            .sqs
            .get_queue_url()
            .queue_name(name)
            .queue_owner_aws_account_id(account)
            .send()
            .await
            .map_err(|e| classify_sdk_error("look up queue URL", &e))?;
        let url = found.queue_url().ok_or_else(|| Failure::transient("queue URL lookup returned none"))?.to_string();
        if let Ok(mut urls) = self.urls.lock() {
            urls.insert(arn.to_string(), url.clone());
        }
        Ok(url)
    }
}

/// `arn:aws:sqs:us-east-1:123456789012:jobs` → (`123456789012`, `jobs`).
fn queue_of_arn(arn: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "sqs", _, account, name] if !account.is_empty() && !name.is_empty() => Some((account, name)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_arns_are_split() {
        assert_eq!(queue_of_arn("arn:aws:sqs:us-east-1:123456789012:jobs"), Some(("123456789012", "jobs")));
        assert_eq!(queue_of_arn("arn:aws-cn:sqs:cn-north-1:1:q.fifo"), Some(("1", "q.fifo")));
        for bad in ["", "arn:aws:sns:us-east-1:1:topic", "arn:aws:sqs:us-east-1::q", "arn:aws:sqs:us-east-1:1:q:x"] {
            assert_eq!(queue_of_arn(bad), None, "{bad}");
        }
    }
}
