//! `nerf-avatar bench`: throughput of the CPU reference backend against this machine's
//! roofline, with `--backend cuda` the CUDA backend's lines beside it in the same run, and
//! with `--backend wgpu` ms per frame of the WGSL renderer beside the CPU renderer; printed
//! as a table and optionally written as JSON. It measures a fresh avatar of a preset, or,
//! with `--avatar`, a trained one (its own occupancy grid: rays stop where it is opaque).

use std::path::PathBuf;

use crate::bench::cuda::run_cuda_suite;
use crate::bench::wgpu::run_wgpu_render_suite;
use crate::bench::{BenchLine, BenchOptions, run_suite};
use anyhow::Context;
use clap::Args;
use nerf_avatar::ModelConfig;
use nerf_avatar::config::PRESET_NAMES;
use nerf_avatar::scene::BenchScene;

use crate::backend::{Backend, Chosen, choose_renderer};

/// Options of `nerf-avatar bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Model configuration to measure, on a fresh avatar with a head-shaped occupancy grid.
    #[arg(long, default_value = "paper", value_parser = clap::builder::PossibleValuesParser::new(PRESET_NAMES))]
    preset: String,
    /// Measure this avatar file instead (its configuration, parameters and occupancy grid),
    /// seen from the front as `render` sees it, with a neutral expression.
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    avatar: Option<PathBuf>,
    /// Fewer repeats and smaller buffers: a smoke test, not a measurement.
    #[arg(long)]
    quick: bool,
    /// Also write every number to this JSON file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// `cpu`: the CPU suite; `cuda`: the CPU suite and the CUDA backend's lines; `wgpu`: ms
    /// per 256² and 512² frame of the WGSL renderer beside the CPU renderer; `auto`: the GPU
    /// backend `render` would pick.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: Backend,
}

/// Runs the benchmark, prints the table and writes the JSON file if asked.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let scene = match &args.avatar {
        Some(path) => BenchScene::read(path)?,
        None => BenchScene::fresh(&ModelConfig::preset(&args.preset)?)?,
    };
    let preset = scene.config().preset_name();
    let options = BenchOptions { quick: args.quick };
    eprintln!(
        "measuring {} (preset `{}`) on {} threads{}…",
        scene.describe(),
        preset.unwrap_or("none"),
        rayon::current_num_threads(),
        if args.quick { " (quick)" } else { "" }
    );
    let (lines, report) = match choose_renderer(args.backend)? {
        Chosen::Cpu => {
            let report = run_suite(&scene, &options);
            (report.lines.clone(), serde_json::to_value(&report)?)
        }
        Chosen::Cuda(device) => {
            let mut report = run_suite(&scene, &options);
            eprintln!("measuring the GPU…");
            let gpu = run_cuda_suite(device, &scene, &options, true).context("GPU benchmark")?;
            report.lines.extend(gpu);
            (report.lines.clone(), serde_json::to_value(&report)?)
        }
        Chosen::Wgpu(gpu) => {
            eprintln!("rendering on {} and on the CPU…", gpu.describe());
            let lines = run_wgpu_render_suite(&scene, &options, &gpu)?;
            let report = serde_json::json!({ "adapter": gpu.describe(), "lines": lines });
            (lines, report)
        }
    };
    print!("{}", table(&lines));
    if let Some(path) = &args.json {
        let document = serde_json::json!({
            "preset": preset,
            "scene": scene.describe(),
            "avatar": args.avatar,
            "quick": args.quick,
            "backend": format!("{:?}", args.backend).to_lowercase(),
            "report": report,
        });
        let text = serde_json::to_string_pretty(&document)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The lines as a Markdown table (the form BENCHMARKS.md keeps).
fn table(lines: &[BenchLine]) -> String {
    let mut text = String::from(
        "| measurement | value | unit | compared to | ratio | ratio is | goal |\n\
         | --- | ---: | --- | --- | ---: | --- | --- |\n",
    );
    for line in lines {
        text += &row(line);
    }
    text
}

/// One table row.
fn row(line: &BenchLine) -> String {
    let ratio = line.ratio.map_or(String::new(), |r| format!("{r:.3}"));
    let goal = line.goal.as_ref().map_or(String::new(), |g| {
        format!("{} ({})", g.target, if g.met { "met" } else { "not met" })
    });
    format!(
        "| {} | {} | {} | {} | {} | {} | {} |\n",
        line.name,
        significant(line.value),
        line.unit,
        line.compared_to,
        ratio,
        line.ratio_meaning,
        goal
    )
}

/// A value with about four significant digits.
fn significant(value: f64) -> String {
    let decimals = match value.abs() {
        v if v >= 1000.0 => 0,
        v if v >= 100.0 => 1,
        v if v >= 10.0 => 2,
        _ => 3,
    };
    format!("{value:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_about_four_significant_digits() {
        assert_eq!(significant(1234.56), "1235");
        assert_eq!(significant(12.3456), "12.35");
        assert_eq!(significant(0.5), "0.500");
    }
}
