use image_processor::{handle_batch, Processor, ProcessorConfig};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use media_edge_shared::aws::{load_sdk_config, s3_client, sns_client};
use media_edge_shared::status::StatusPublisher;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = ProcessorConfig::from_env()?;
    let sdk = load_sdk_config().await;
    let status = StatusPublisher::new(sns_client(&sdk), config.status_topic_arn.clone());
    let processor = Processor::new(s3_client(&sdk), status, config);

    lambda_runtime::run(service_fn(
        |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| {
            let processor = processor.clone();
            async move { Ok::<_, Error>(handle_batch(event.payload, &processor).await) }
        },
    ))
    .await
}
