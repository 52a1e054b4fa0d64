//! The workloads of the benchmark and how each is set against the roofline.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::roofline::{Roofline, best_seconds};
use super::{BenchLine, BenchOptions, BenchReport, Goal};
use nerf_avatar::field::Model;
use nerf_avatar::hashgrid::{blend_tables, blend_tables_backward};
use nerf_avatar::march::MarchSettings;
use nerf_avatar::params::LayerShape;
use nerf_avatar::render::{Background, RayBatch, render_image};
use nerf_avatar::scene::{BenchScene, random_rays};

/// Seed of the training batch's rays.
const SEED: u64 = 2022;
/// Edge of the rendered image in pixels.
const RENDER_SIZE: u32 = 256;
/// Edge of the image the training rays are drawn from.
const TRAINING_IMAGE_SIZE: u32 = 512;
/// Largest ratio of blend time to one read of all tables that meets the goal.
const BLEND_GOAL_RATIO: f64 = 2.0;
/// Forward samples per second the paper configuration should reach.
const FORWARD_GOAL: f64 = 500e3;
/// Forward-plus-backward samples per second the paper configuration should reach.
const TRAINING_GOAL: f64 = 150e3;

/// Measures the roofline, then every workload of `scene`'s avatar, on the current rayon
/// pool. Goals are judged when the avatar is of the paper preset.
pub fn run_suite(scene: &BenchScene, options: &BenchOptions) -> BenchReport {
    let repeats = options.repeats();
    let roofline = Roofline::measure(options.stream_bytes(), options.fma_iterations(), repeats);
    let judge = scene.judged();
    let mut lines = roofline_lines(&roofline);

    let model = Model::new(scene.config());
    let mut rng = Pcg64::seed_from_u64(SEED);
    let (params, weights, occupancy) = (
        &scene.avatar.params,
        &scene.weights,
        &scene.avatar.occupancy,
    );
    let mlp_flop = mlp_flop(&model.layout.density_layers) + mlp_flop(&model.layout.color_layers);

    // Blend: one read of every table, one write of the frame's table.
    let mut table = vec![0.0f32; model.layout.table_len];
    let blend = best_seconds(repeats, || {
        blend_tables(params.tables(), weights, &mut table);
    });
    let tables_bytes = size_of_val(params.tables()) as f64;
    let tables_read = roofline.stream_seconds(tables_bytes);
    let blend_ratio = blend / tables_read;
    lines.push(BenchLine {
        name: format!("hash blend ({} tables)", model.layout.table_count),
        value: blend * 1e3,
        unit: "ms".into(),
        compared_to: format!(
            "one read of {:.0} MB of tables: {:.1} ms",
            tables_bytes / 1e6,
            tables_read * 1e3
        ),
        ratio: Some(blend_ratio),
        ratio_meaning: "blend time / table read time".into(),
        goal: judge.then(|| Goal {
            target: format!("≤ {BLEND_GOAL_RATIO}× the table read"),
            met: blend_ratio <= BLEND_GOAL_RATIO,
        }),
    });

    // A training batch of one frame through the scene's grid.
    let settings = MarchSettings::training(scene.config());
    let (intrinsics, pose) = scene.camera(TRAINING_IMAGE_SIZE, TRAINING_IMAGE_SIZE);
    let rays = random_rays(&intrinsics, &pose, options.training_rays(), &mut rng);
    let jitters: Vec<f32> = rays.iter().map(|_| rng.random_range(0.0..1.0)).collect();
    let backgrounds = vec![[1.0f32; 3]; rays.len()];
    let forward = || {
        RayBatch::forward(
            &model,
            &params.data,
            &table,
            occupancy,
            &settings,
            &rays,
            &jitters,
            &backgrounds,
        )
    };
    let batch = forward();
    let sample_count = batch.sigma.len();
    let positions: Vec<[f32; 3]> = batch.samples.samples.iter().map(|s| s.position).collect();

    let width = model.grid.output_width();
    let mut encoding = vec![0.0f32; positions.len() * width];
    let encode = best_seconds(repeats, || {
        model.grid.encode_batch(&table, &positions, &mut encoding);
    });
    let points_per_second = positions.len() as f64 / encode;
    let gathered_per_point = (model.grid.levels.len() * 8 * model.grid.features) as f64 * 4.0;
    lines.push(BenchLine {
        name: "hash encode".into(),
        value: points_per_second / 1e6,
        unit: "Mpoints/s".into(),
        compared_to: format!(
            "read bandwidth ({:.0} B gathered per point)",
            gathered_per_point
        ),
        ratio: Some(points_per_second * gathered_per_point / roofline.read_bytes_per_second),
        ratio_meaning: "bytes gathered/s / read bandwidth".into(),
        goal: None,
    });

    let fresh_seconds = best_seconds(repeats, || drop(forward()));
    lines.push(samples_line(
        "forward, fresh batch (RayBatch::forward)",
        sample_count as f64 / fresh_seconds,
        mlp_flop,
        &roofline,
        None,
    ));

    // A training loop keeps one batch and reruns it in place.
    let mut batch = batch;
    let forward_in_place = |batch: &mut RayBatch<f32>| {
        batch.forward_in_place(
            &model,
            &params.data,
            &table,
            occupancy,
            &settings,
            &rays,
            &jitters,
            &backgrounds,
        );
    };
    let forward_seconds = best_seconds(repeats, || forward_in_place(&mut batch));
    let forward_rate = sample_count as f64 / forward_seconds;
    lines.push(samples_line(
        "forward (RayBatch::forward_in_place)",
        forward_rate,
        mlp_flop,
        &roofline,
        judge.then(|| Goal {
            target: format!("≥ {:.0}k samples/s", FORWARD_GOAL / 1e3),
            met: forward_rate >= FORWARD_GOAL,
        }),
    ));

    let mut d_params = vec![0.0f32; params.data.len()];
    let d_color = vec![[0.1f32, -0.2, 0.05]; rays.len()];
    let d_alpha = vec![0.1f32; rays.len()];
    let mut d_table = Vec::new();
    let training_seconds = best_seconds(repeats, || {
        forward_in_place(&mut batch);
        d_table = batch.backward(&model, &params.data, &d_color, &d_alpha, &mut d_params);
    });
    let training_rate = sample_count as f64 / training_seconds;
    lines.push(samples_line(
        "forward + backward (forward_in_place + backward)",
        training_rate,
        3.0 * mlp_flop,
        &roofline,
        judge.then(|| Goal {
            target: format!("≥ {:.0}k samples/s", TRAINING_GOAL / 1e3),
            met: training_rate >= TRAINING_GOAL,
        }),
    ));

    // Blend backward: every table gradient is read and written once.
    let mut d_tables = vec![0.0f32; params.tables().len()];
    let blend_backward = best_seconds(repeats, || {
        blend_tables_backward(&d_table, weights, &mut d_tables);
    });
    let tables_read_write = roofline.stream_seconds(2.0 * tables_bytes);
    lines.push(BenchLine {
        name: format!("blend backward ({} tables)", model.layout.table_count),
        value: blend_backward * 1e3,
        unit: "ms".into(),
        compared_to: format!(
            "read + write of {:.0} MB of gradients at the read bandwidth: {:.1} ms",
            tables_bytes / 1e6,
            tables_read_write * 1e3
        ),
        ratio: Some(blend_backward / tables_read_write),
        ratio_meaning: "time / stream time".into(),
        goal: None,
    });
    drop(d_tables);

    let (intrinsics, pose) = scene.camera(RENDER_SIZE, RENDER_SIZE);
    let mut rendered_samples = 0;
    let render = best_seconds(repeats.min(3), || {
        let image = render_image(
            &model,
            params,
            weights,
            occupancy,
            &intrinsics,
            &pose,
            Background::Solid([1.0; 3]),
        );
        rendered_samples = image.samples;
    });
    let achieved_flop = rendered_samples as f64 * mlp_flop / render;
    lines.push(BenchLine {
        name: format!("render {RENDER_SIZE}×{RENDER_SIZE} (render_image)"),
        value: render * 1e3,
        unit: "ms/frame".into(),
        compared_to: format!("FMA peak ({:.1} kFLOP of MLP per sample)", mlp_flop / 1e3),
        ratio: Some(achieved_flop / roofline.fma_flop_per_second),
        ratio_meaning: "MLP FLOP/s / FMA peak".into(),
        goal: None,
    });
    lines.push(BenchLine::plain(
        "render samples per ray",
        rendered_samples as f64 / f64::from(RENDER_SIZE * RENDER_SIZE),
        "samples/ray",
    ));

    BenchReport {
        threads: rayon::current_num_threads(),
        roofline,
        lines,
    }
}

/// The two roofline numbers as lines of their own.
fn roofline_lines(roofline: &Roofline) -> Vec<BenchLine> {
    vec![
        BenchLine::plain(
            "roofline: memory read bandwidth",
            roofline.read_bytes_per_second / 1e9,
            "GB/s",
        ),
        BenchLine::plain(
            "roofline: f32 FMA rate",
            roofline.fma_flop_per_second / 1e9,
            "GFLOP/s",
        ),
    ]
}

/// A samples-per-second line set against the FMA peak through the MLPs' FLOP per sample.
fn samples_line(
    name: &str,
    samples_per_second: f64,
    flop_per_sample: f64,
    roofline: &Roofline,
    goal: Option<Goal>,
) -> BenchLine {
    BenchLine {
        name: name.into(),
        value: samples_per_second / 1e3,
        unit: "ksamples/s".into(),
        compared_to: format!(
            "FMA peak ({:.1} kFLOP of MLP per sample)",
            flop_per_sample / 1e3
        ),
        ratio: Some(samples_per_second * flop_per_sample / roofline.fma_flop_per_second),
        ratio_meaning: "MLP FLOP/s / FMA peak".into(),
        goal,
    }
}

/// FLOP of one row through a bias-free MLP: 2 per weight.
pub(crate) fn mlp_flop(layers: &[LayerShape]) -> f64 {
    layers
        .iter()
        .map(|l| 2.0 * (l.inputs * l.outputs) as f64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nerf_avatar::config::ModelConfig;

    #[test]
    fn paper_mlps_cost_about_52_kflop_per_sample() {
        let model = Model::new(&ModelConfig::paper());
        let flop = mlp_flop(&model.layout.density_layers) + mlp_flop(&model.layout.color_layers);
        assert_eq!(
            flop,
            2.0 * (4.0 * 64.0 * 64.0 + 64.0 * 65.0 + 80.0 * 64.0 + 64.0 * 3.0)
        );
    }
}
