//! The release controller: once a minute (an EventBridge schedule), each channel's rollout is
//! advanced, held, promoted or rolled back on its gates, and every state change is announced.
//!
//! - [`config`]: where the channels, the status topic and the edge store are.
//! - [`gates`]: CloudWatch alarms read as gate readings (the plan logic itself is pure, in
//!   `release_control::rollout`).
//! - [`handler`]: one run over every channel; one channel's failure does not stop the others.
//! - [`migrations`]: the same run's turn for each site migration (`media-edge migrate`).
//! - [`announce`], [`clients`]: what both share: publishing to the status topic, the AWS clients.

pub mod announce;
pub mod clients;
pub mod config;
pub mod gates;
pub mod handler;
pub mod migrations;

pub use config::ControllerConfig;
pub use handler::{run_once, Clients, RunReport};
