use std::time::Instant;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use media_edge_shared::aws::{load_sdk_config, sns_client};
use media_edge_shared::invocation;
use notifier::window::read_budget;
use notifier::{current_hour, handle_batch, run_window, ChatbotPublisher, NotifierConfig, WindowConfig};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = NotifierConfig::from_env()?;
    let window = WindowConfig::from_env()?;
    let sdk = load_sdk_config().await;
    let publisher = ChatbotPublisher::new(sns_client(&sdk), config.chatbot_topic_arn.clone());
    let sqs = aws_sdk_sqs::Client::new(&sdk);

    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (publisher, config, window, sqs) = (publisher.clone(), config.clone(), window.clone(), sqs.clone());
        async move {
            // An SQS batch (a queue wired to the function, `cargo lambda invoke` with a sample
            // event) is reported at once; anything else is the schedule: one digest window.
            if event.payload.get("Records").is_some() {
                let batch: SqsEvent = serde_json::from_value(event.payload)?;
                let response = handle_batch(batch, &publisher, &config, &current_hour()).await;
                return Ok::<_, Error>(serde_json::to_value(response)?);
            }
            let read_until = Instant::now() + read_budget(invocation::remaining_from_now(event.context.deadline));
            let report = run_window(&sqs, &window, &publisher, &config, &current_hour(), read_until).await?;
            Ok(serde_json::to_value(report)?)
        }
    }))
    .await
}
