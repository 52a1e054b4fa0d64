//! `nerf-avatar`: make, inspect and render NeRFBlendShape head avatars.

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
enum Command {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {};
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
