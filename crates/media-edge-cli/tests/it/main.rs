#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The `media-edge` command's tests: one binary, a module per subcommand. Most run the built
//! command against the local emulator (`make test` starts it).

mod backfill_command;
mod logs_command;
mod process_command;
mod release_command;
mod release_edge_store;
mod support;
