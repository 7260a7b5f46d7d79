use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use media_edge_shared::aws::{load_sdk_config, sns_client};
use notifier::{current_hour, handle_batch, ChatbotPublisher, NotifierConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = NotifierConfig::from_env()?;
    let sdk = load_sdk_config().await;
    let publisher = ChatbotPublisher::new(sns_client(&sdk), config.chatbot_topic_arn.clone());

    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let (publisher, config) = (publisher.clone(), config.clone());
        async move { Ok::<_, Error>(handle_batch(event.payload, &publisher, &config, &current_hour()).await) }
    }))
    .await
}
