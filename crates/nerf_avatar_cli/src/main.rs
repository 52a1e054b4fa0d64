//! `nerf-avatar`: make, inspect and render NeRFBlendShape head avatars.

mod bench;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Photoreal, expression-controllable NeRF head avatars (NeRFBlendShape).
#[derive(Parser)]
#[command(name = "nerf-avatar", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure the CPU reference backend against this machine's roofline.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Bench(args) => bench::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
