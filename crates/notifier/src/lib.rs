//! The notifier: status events (and dead-lettered jobs) in, readable Slack messages out through
//! SNS and AWS Chatbot custom notifications, at most one digest per window however busy it is.
//!
//! - [`window`] is what the deployed function runs on its schedule: everything waiting in the
//!   notifier queue, reported once per digest window.
//! - [`handler`] reports one batch of messages and publishes; [`intake`] reads one message.
//! - [`digest`] decides what to say (pure); [`escape`] makes user input inert in Slack markdown.
//! - [`chatbot`] is the custom-notification format and its validation.

pub mod chatbot;
pub mod config;
pub mod digest;
pub mod escape;
pub mod handler;
pub mod intake;
pub mod window;

pub use config::NotifierConfig;
pub use handler::{current_hour, handle_batch, ChatbotPublisher};
pub use window::{run_window, WindowConfig, WindowReport};
