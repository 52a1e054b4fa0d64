//! `nerf-avatar`: make, inspect and render NeRFBlendShape head avatars.

mod backend;
mod bench;
mod eval;
mod frame_sink;
mod info;
mod init;
mod reenact;
mod render;
mod sheet;
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
    /// Drive an avatar with another performance (a dataset or a CSV of ARKit coefficients)
    /// and write the frames as a video or PNGs.
    Reenact(reenact::ReenactArgs),
    /// Render a contact sheet of the avatar's expression controls, each at 0 and at its maximum.
    Sheet(sheet::SheetArgs),
    /// Track a video (or a folder of frames) into a dataset: landmarks, ARKit blendshapes,
    /// poses, head masks and background.
    Track(track::TrackArgs),
    /// Train a dataset into an avatar.
    Train(train::TrainArgs),
    /// Render a dataset split with an avatar and measure PSNR, MSE, L1, SSIM and LPIPS.
    Eval(eval::EvalArgs),
    /// Measure the CPU backend against the roofline, and the GPU backends (`--backend cuda`
    /// or `wgpu`) beside it.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Synth(args) => synth::run(&args),
        Command::Init(args) => init::run(args),
        Command::Info(args) => info::run(args),
        Command::Render(args) => render::run(args),
        Command::Reenact(args) => reenact::run(args),
        Command::Sheet(args) => sheet::run(args),
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
