#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The doctor's tests: preflight over the answers AWS documents (aws-smithy-mocks: the emulator
//! has no GetAccountSettings, DescribeConfigurationTemplates or Chatbot), and smoke over
//! infra/template.yaml deployed on the emulator, through the local edge.

mod command;
mod preflight;
mod smoke;
