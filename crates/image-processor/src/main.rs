use std::time::Instant;

use aws_lambda_events::event::sqs::SqsEvent;
use image_processor::deadline::DEADLINE_MARGIN;
use image_processor::{handle_batch, Processor, ProcessorConfig};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use media_edge_shared::aws::StatusPublisher;
use media_edge_shared::aws::{load_sdk_config, s3_client, sns_client};
use media_edge_shared::invocation;

fn main() -> Result<(), Error> {
    // Before the runtime starts its threads (see the function).
    image_processor::lambda::allocator::keep_freed_memory();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

async fn run() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = ProcessorConfig::from_env()?;
    let sdk = load_sdk_config().await;
    let status = StatusPublisher::new(sns_client(&sdk), config.status_topic_arn.clone());
    let processor = Processor::new(s3_client(&sdk), aws_sdk_sqs::Client::new(&sdk), status, config);

    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let processor = processor.clone();
        let deadline = invocation_deadline(&event.context);
        async move { Ok::<_, Error>(handle_batch(event.payload, &processor, deadline).await) }
    }))
    .await
}

/// When this invocation must be done, less a margin to store results and report status
/// ([`DEADLINE_MARGIN`]).
fn invocation_deadline(context: &lambda_runtime::Context) -> Option<Instant> {
    let remaining = invocation::remaining_from_now(context.deadline);
    Some(Instant::now() + remaining.saturating_sub(DEADLINE_MARGIN))
}
