//! `media-edge-doctor`: the doctor alone (`media-edge doctor` in the full tool), built by
//! `make preflight` and `make smoke` without the image codecs.

use std::process::ExitCode;

use clap::Parser;
use media_edge_doctor::cli::{run, DoctorArgs};

#[derive(Parser)]
#[command(
    name = "media-edge-doctor",
    version,
    about = "Before a deploy, what the account and this machine must offer; after it, the live stack proven end to end"
)]
struct Cli {
    #[command(flatten)]
    doctor: DoctorArgs,
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
            .with_writer(std::io::stderr)
            .init();
        run(Cli::parse().doctor).await
    })
}
