//! `nerf-avatar info`: describes an avatar file.

use std::path::PathBuf;

use anyhow::Context;
use nerf_avatar::Avatar;
use nerf_avatar::asset::{FORMAT_NAME, FORMAT_VERSION, Precision};
use nerf_avatar::config::MlpConfig;
use serde_json::json;

/// Arguments of `info`.
#[derive(clap::Args)]
pub struct InfoArgs {
    /// The avatar file.
    avatar: PathBuf,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

/// Reads the avatar and prints what it holds.
pub fn run(args: InfoArgs) -> anyhow::Result<()> {
    let (avatar, precision) = Avatar::read_with_precision(&args.avatar)?;
    let file_size = std::fs::metadata(&args.avatar)
        .with_context(|| format!("cannot inspect `{}`", args.avatar.display()))?
        .len();
    if args.json {
        println!("{:#}", describe_json(&avatar, precision, file_size));
    } else {
        print!("{}", describe_text(&avatar, precision, file_size));
    }
    Ok(())
}

fn describe_json(avatar: &Avatar, precision: Precision, file_size: u64) -> serde_json::Value {
    let blendshapes: Vec<_> = avatar
        .blendshapes()
        .iter()
        .zip(avatar.expression_min.iter().zip(&avatar.expression_max))
        .map(|(name, (min, max))| json!({ "name": name, "min": min, "max": max }))
        .collect();
    json!({
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "precision": precision.to_string(),
        "file_size": file_size,
        "parameter_count": avatar.parameter_count(),
        "config": avatar.config,
        "blendshapes": blendshapes,
        "occupancy": {
            "resolution": avatar.occupancy.resolution,
            "occupied_fraction": avatar.occupancy.occupied_fraction(),
            "has_density": avatar.occupancy.density.is_some(),
        },
        "intrinsics": avatar.intrinsics,
        "training": avatar.training,
    })
}

fn describe_text(avatar: &Avatar, precision: Precision, file_size: u64) -> String {
    let config = &avatar.config;
    let grid = &config.grid;
    let head_box = &config.head_box;
    let occupancy = &avatar.occupancy;
    let densities = if occupancy.density.is_some() {
        "densities stored"
    } else {
        "no densities"
    };
    let mut text = format!(
        "{FORMAT_NAME} asset, version {FORMAT_VERSION}, {} weights\n\
         file size:     {file_size} bytes\n\
         parameters:    {}\n\
         hash grid:     {} levels, 2^{} entries per level, {} features, resolution {} to {}\n\
         density MLP:   {}\n\
         colour MLP:    {}\n\
         head box:      centre {:?}, half extent {}\n\
         occupancy:     {r}×{r}×{r} cells, {:.1}% occupied, {densities}\n",
        precision,
        avatar.parameter_count(),
        grid.levels,
        grid.log2_table_size,
        grid.features_per_level,
        grid.base_resolution,
        grid.finest_resolution,
        mlp_text(
            config.encoding_width(),
            config.density_mlp,
            config.density_output_width()
        ),
        mlp_text(config.color_input_width(), config.color_mlp, 3),
        head_box.center,
        head_box.half_extent,
        100.0 * occupancy.occupied_fraction(),
        r = occupancy.resolution,
    );
    text += &format!("blendshapes:   {}\n", avatar.blendshapes().len());
    let ranges = avatar.expression_min.iter().zip(&avatar.expression_max);
    for (name, (min, max)) in avatar.blendshapes().iter().zip(ranges) {
        text += &format!("  {name:<24} [{min}, {max}]\n");
    }
    text += &match &avatar.intrinsics {
        Some(k) => format!(
            "intrinsics:    {}×{} px, fx {} fy {}, centre ({}, {})\n",
            k.width, k.height, k.fx, k.fy, k.cx, k.cy
        ),
        None => "intrinsics:    unknown\n".to_owned(),
    };
    text += &match &avatar.training {
        Some(training) => {
            let field = |value: Option<String>| value.unwrap_or_else(|| "unknown".into());
            format!(
                "training:      {} steps in {} s on {}, dataset {} ({}), final loss {}, PSNR {} dB, {}\n",
                field(training.steps.map(|s| s.to_string())),
                field(training.seconds.map(|s| format!("{s:.1}"))),
                field(training.backend.clone()),
                field(training.dataset_name.clone()),
                field(training.dataset_path.clone()),
                field(training.final_loss.map(|l| l.to_string())),
                field(training.final_psnr.map(|p| format!("{p:.2}"))),
                field(training.date.clone()),
            )
        }
        None => "training:      not trained\n".to_owned(),
    };
    text
}

/// `inputs → layers × width → outputs` of one network.
fn mlp_text(inputs: usize, mlp: MlpConfig, outputs: usize) -> String {
    format!(
        "{inputs} → {} × {} → {outputs}",
        mlp.hidden_layers, mlp.hidden_width
    )
}
