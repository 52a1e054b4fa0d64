//! `nerf-avatar`: make, inspect and render NeRFBlendShape head avatars.

mod bench;
mod eval;
mod info;
mod init;
mod render;
mod synth;
mod track;
mod train;

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
    /// Render the procedural talking head into a dataset folder.
    Synth(synth::SynthArgs),
    /// Write a freshly initialised avatar.
    Init(init::InitArgs),
    /// Describe an avatar file: format, config, parameters, blendshape ranges, training.
    Info(info::InfoArgs),
    /// Render one frame of an avatar for an expression and a view, as a PNG.
    Render(render::RenderArgs),
    /// Track a video (or a folder of frames) into a dataset: landmarks, ARKit blendshapes,
    /// poses, head masks and background.
    Track(track::TrackArgs),
    /// Train a dataset into an avatar.
    Train(train::TrainArgs),
    /// Render a dataset split with an avatar and measure PSNR, MSE, L1, SSIM and LPIPS.
    Eval(eval::EvalArgs),
    /// Measure the CPU reference backend against this machine's roofline.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Synth(args) => synth::run(&args),
        Command::Init(args) => init::run(args),
        Command::Info(args) => info::run(args),
        Command::Render(args) => render::run(args),
        Command::Track(args) => track::run(&args),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
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
