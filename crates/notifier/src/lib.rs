//! The notifier: status events (and dead-lettered jobs) in, readable Slack messages out through
//! SNS and AWS Chatbot custom notifications.
//!
//! - [`handler`] adapts the SQS batch and publishes; [`intake`] reads one message.
//! - [`digest`] decides what to say (pure); [`escape`] makes user input inert in Slack markdown.
//! - [`chatbot`] is the custom-notification format and its validation.

pub mod chatbot;
pub mod config;
pub mod digest;
pub mod escape;
pub mod handler;
pub mod intake;

pub use config::NotifierConfig;
pub use handler::{current_hour, handle_batch, ChatbotPublisher};
