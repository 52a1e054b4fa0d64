//! `nerf-avatar init`: writes a freshly initialised avatar.

use std::path::PathBuf;

use anyhow::Context;
use clap::builder::PossibleValuesParser;
use nerf_avatar::Avatar;
use nerf_avatar::asset::Precision;
use nerf_avatar::config::{ModelConfig, PRESET_NAMES};

/// Arguments of `init`.
#[derive(clap::Args)]
pub struct InitArgs {
    /// Where to write the avatar (replaced atomically if it exists).
    #[arg(long, value_name = "AVATAR")]
    out: PathBuf,
    /// The model's size.
    #[arg(long, default_value = "paper", value_parser = PossibleValuesParser::new(PRESET_NAMES))]
    preset: String,
    /// Comma-separated blendshape names [default: the 51 ARKit names].
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    blendshapes: Option<Vec<String>>,
    /// Seed of the random initialisation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Store hash tables and MLP weights as 16-bit floats.
    #[arg(long)]
    f16: bool,
}

/// Initialises the avatar and writes it.
pub fn run(args: InitArgs) -> anyhow::Result<()> {
    let mut config = ModelConfig::preset(&args.preset)?;
    if let Some(names) = args.blendshapes {
        config = config.with_blendshapes(names.into_iter().map(|n| n.trim().to_owned()).collect());
    }
    let avatar = Avatar::new(config, args.seed).context("cannot initialise the avatar")?;
    let precision = if args.f16 {
        Precision::F16
    } else {
        Precision::F32
    };
    avatar.write(&args.out, precision)?;
    println!(
        "wrote {}: `{}` preset, {} blendshapes, {} parameters, {precision} weights",
        args.out.display(),
        args.preset,
        avatar.config.blendshape_count(),
        avatar.parameter_count(),
    );
    Ok(())
}
