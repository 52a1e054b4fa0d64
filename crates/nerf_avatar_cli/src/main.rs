//! `nerf-avatar`: make, inspect and render NeRFBlendShape head avatars.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod synth;

/// Photoreal, expression-controllable NeRF head avatars (NeRFBlendShape).
#[derive(Parser)]
#[command(name = "nerf-avatar", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render the procedural talking head into a dataset folder.
    Synth(synth::SynthArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Synth(args) => synth::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
