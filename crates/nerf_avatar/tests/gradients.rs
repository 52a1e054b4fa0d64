//! The hand-written backward pass (blend → hash encoding → density MLP → colour MLP →
//! compositing) agrees with central finite differences in f64 on a small configuration:
//! relative error below 1e-4 on every parameter group (h0, each blendshape table, each MLP).

use nerf_avatar::camera::{Intrinsics, Pose, Ray};
use nerf_avatar::config::{HashGridConfig, HeadBox, MlpConfig, ModelConfig};
use nerf_avatar::field::Model;
use nerf_avatar::hashgrid::{blend_tables, blend_tables_backward};
use nerf_avatar::march::MarchSettings;
use nerf_avatar::occupancy::OccupancyGrid;
use nerf_avatar::params::Params;
use nerf_avatar::render::RayBatch;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

struct Problem {
    model: Model,
    occupancy: OccupancyGrid,
    settings: MarchSettings,
    frames: Vec<Frame>,
}

struct Frame {
    weights: Vec<f64>,
    rays: Vec<Ray>,
    jitters: Vec<f32>,
    backgrounds: Vec<[f64; 3]>,
    d_color: Vec<[f64; 3]>,
    d_alpha: Vec<f64>,
}

fn small_config() -> ModelConfig {
    ModelConfig {
        grid: HashGridConfig {
            levels: 3,
            log2_table_size: 6,
            features_per_level: 2,
            base_resolution: 3,
            finest_resolution: 9,
        },
        blendshapes: vec!["jawOpen".into(), "eyeBlinkLeft".into()],
        density_mlp: MlpConfig {
            hidden_width: 8,
            hidden_layers: 2,
        },
        geometry_features: 4,
        color_mlp: MlpConfig {
            hidden_width: 8,
            hidden_layers: 1,
        },
        head_box: HeadBox {
            center: [0.0; 3],
            half_extent: 0.5,
        },
        occupancy_resolution: 8,
        near_distance: 0.05,
    }
}

fn problem(rng: &mut Pcg64) -> Problem {
    let config = small_config();
    config.validate().unwrap();
    let model = Model::new(&config);
    let intrinsics = Intrinsics::from_fov(8, 8, 40.0);
    let frames = (0..2)
        .map(|f| {
            let pose = Pose::orbit([0.0; 3], 2.0, 15.0 - 30.0 * f as f32, 10.0);
            let pixels = [(1, 2), (4, 4), (6, 3), (3, 6), (5, 1)];
            let rays: Vec<Ray> = pixels
                .iter()
                .map(|&(u, v)| Ray::through_pixel(&intrinsics, &pose, u, v))
                .collect();
            let n = rays.len();
            Frame {
                weights: (0..2).map(|_| rng.random_range(0.2..1.0)).collect(),
                rays,
                jitters: (0..n).map(|_| rng.random_range(0.0..1.0)).collect(),
                backgrounds: (0..n)
                    .map(|_| [rng.random(), rng.random(), rng.random()])
                    .collect(),
                d_color: (0..n)
                    .map(|_| std::array::from_fn(|_| rng.random_range(-1.0..1.0)))
                    .collect(),
                d_alpha: (0..n).map(|_| rng.random_range(-1.0..1.0)).collect(),
            }
        })
        .collect();
    Problem {
        settings: MarchSettings::training(&config),
        occupancy: OccupancyGrid::full(config.occupancy_resolution),
        model,
        frames,
    }
}

/// The scalar whose gradient is checked: a fixed random linear function of every ray's
/// colour and opacity over both frames.
fn loss(p: &Problem, params: &Params<f64>) -> f64 {
    let mut total = 0.0;
    for frame in &p.frames {
        let batch = forward(p, params, frame);
        for (r, ray) in batch.rays.iter().enumerate() {
            total += (0..3)
                .map(|c| ray.color[c] * frame.d_color[r][c])
                .sum::<f64>();
            total += ray.alpha * frame.d_alpha[r];
        }
    }
    total
}

fn forward(p: &Problem, params: &Params<f64>, frame: &Frame) -> RayBatch<f64> {
    let mut table = vec![0.0; p.model.layout.table_len];
    blend_tables(params.tables(), &frame.weights, &mut table);
    RayBatch::forward(
        &p.model,
        &params.data,
        &table,
        &p.occupancy,
        &p.settings,
        &frame.rays,
        &frame.jitters,
        &frame.backgrounds,
    )
}

fn analytic_gradient(p: &Problem, params: &Params<f64>) -> Vec<f64> {
    let mut grads = Params::<f64>::zeros(params.layout.clone());
    for frame in &p.frames {
        let batch = forward(p, params, frame);
        let d_table = batch.backward(
            &p.model,
            &params.data,
            &frame.d_color,
            &frame.d_alpha,
            &mut grads.data,
        );
        let tables = grads.layout.tables();
        blend_tables_backward(&d_table, &frame.weights, &mut grads.data[tables]);
    }
    grads.data
}

#[test]
fn backward_pass_matches_central_differences_in_f64() {
    let mut rng = Pcg64::seed_from_u64(7);
    let p = problem(&mut rng);
    let mut params = Params::<f64>::init(&p.model.config, &mut rng);
    // Larger table values than the U(±1e-4) start, so the grid shapes the field.
    for v in &mut params.data[params.layout.tables()] {
        *v = rng.random_range(-1.0..1.0);
    }
    let base = forward(&p, &params, &p.frames[0]);
    assert!(base.samples.samples.len() > 20, "rays must cross the box");
    assert!(
        base.rays.iter().any(|r| r.alpha > 0.05),
        "the field must be visible"
    );

    let analytic = analytic_gradient(&p, &params);
    let eps = 1e-6;
    let numeric: Vec<f64> = (0..params.data.len())
        .map(|i| {
            let original = params.data[i];
            params.data[i] = original + eps;
            let plus = loss(&p, &params);
            params.data[i] = original - eps;
            let minus = loss(&p, &params);
            params.data[i] = original;
            (plus - minus) / (2.0 * eps)
        })
        .collect();

    let layout = &params.layout;
    let mut groups = vec![("h0".to_string(), layout.table(0))];
    for (i, name) in p.model.config.blendshapes.iter().enumerate() {
        groups.push((format!("h_{name}"), layout.table(i + 1)));
    }
    groups.push(("density MLP".into(), layout.density()));
    groups.push(("colour MLP".into(), layout.color()));
    for (name, range) in groups {
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let diff: Vec<f64> = analytic[range.clone()]
            .iter()
            .zip(&numeric[range.clone()])
            .map(|(a, n)| a - n)
            .collect();
        let scale = norm(&numeric[range.clone()]);
        assert!(
            scale > 1e-8,
            "{name}: gradient vanishes, the check would be empty"
        );
        let relative = norm(&diff) / scale;
        assert!(relative < 1e-4, "{name}: relative error {relative:e}");
    }
}
