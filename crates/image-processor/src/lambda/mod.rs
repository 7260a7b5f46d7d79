//! The Lambda glue around the flow: an SQS batch in, partial batch failures out.
//!
//! - [`handler`]: the batch handler ([`handler::Processor`], [`handler::handle_batch`]); `intake`
//!   decides which object events are work; `requeue` sends back what a deadline left unstarted.
//! - [`config`]: the processor's configuration, from the environment.
//! - [`allocator`]: glibc settings, made before the runtime starts (also by `media-edge`).
//! - `fault_injection`: the panic `make soak` asks for.

pub mod allocator;
pub mod config;
mod fault_injection;
pub mod handler;
mod intake;
pub(crate) mod requeue;
