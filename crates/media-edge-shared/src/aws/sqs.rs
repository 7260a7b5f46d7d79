//! An SQS message as Lambda's SQS event source presents it, for code that receives messages
//! itself (the notifier's scheduled window, the local event-source loop) and hands them to the
//! same handlers.

use aws_lambda_events::event::sqs::SqsMessage;

pub fn lambda_message(message: &aws_sdk_sqs::types::Message, queue_arn: Option<&str>) -> SqsMessage {
    let mut event_message = SqsMessage::default();
    event_message.message_id = message.message_id().map(str::to_string);
    event_message.receipt_handle = message.receipt_handle().map(str::to_string);
    event_message.body = message.body().map(str::to_string);
    event_message.md5_of_body = message.md5_of_body().map(str::to_string);
    event_message.event_source = Some("aws:sqs".to_string());
    event_message.event_source_arn = queue_arn.map(str::to_string);
    if let Some(attributes) = message.attributes() {
        for (name, value) in attributes {
            event_message.attributes.insert(name.as_str().to_string(), value.clone());
        }
    }
    event_message
}
