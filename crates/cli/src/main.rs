//! `media-edge`: media-edge's command-line tool.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod process;
mod release;

#[derive(Parser)]
#[command(name = "media-edge", version, about = "media-edge's command-line tool")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the image processor's processing on local files, without AWS.
    ///
    /// Writes variants and a manifest per file under DIR (the same layout as the variants bucket)
    /// and prints one JSON report per file with the status event's fields. Settings come from the
    /// same environment variables as the Lambda (VARIANTS, JPEG_QUALITY, MAX_PIXELS, …).
    /// Exits 1 when any file failed.
    Process {
        /// Images to process.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output directory (created if missing).
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Publish static releases and control canaries (see `media-edge release --help`).
    Release(release::ReleaseArgs),
    /// Print, as a JSON array, the ffmpeg command line the processor would run to turn GIF into
    /// MP4 (program first). For benchmarks and debugging; honours the VIDEO_* variables.
    #[command(hide = true)]
    FfmpegArgs { gif: PathBuf, mp4: PathBuf },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Process { files, out } => process::run(&files, &out).await,
        Command::FfmpegArgs { gif, mp4 } => process::print_ffmpeg_args(&gif, &mp4),
        Command::Release(args) => release::run(args).await,
    }
}
