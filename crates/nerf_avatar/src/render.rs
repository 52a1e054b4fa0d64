//! Rendering rays with a frame's blended table: the training path (march every ray, evaluate
//! all samples in chunks, composite, and the backward pass into parameter gradients) and the
//! inference path (whole images, rays marched in rounds with early termination).

use rayon::prelude::*;

use crate::camera::{Intrinsics, Pose, Ray, dot};
use crate::composite::{CompositeState, Composited, composite, composite_backward};
use crate::field::{FieldTape, Model};
use crate::hashgrid::blend_tables;
use crate::march::{MarchSettings, RayMarcher, RaySamples};
use crate::occupancy::OccupancyGrid;
use crate::params::Params;
use crate::real::Real;

/// Samples evaluated together by one task (one GEMM batch per layer).
pub const SAMPLE_CHUNK: usize = 1024;

/// A training ray batch of one frame after its forward pass, ready for the backward pass.
#[derive(Clone, Debug, Default)]
pub struct RayBatch<R> {
    /// The samples of every ray.
    pub samples: RaySamples,
    /// σ per sample.
    pub sigma: Vec<R>,
    /// RGB per sample.
    pub rgb: Vec<[R; 3]>,
    /// Composited result per ray.
    pub rays: Vec<Composited<R>>,
    tapes: Vec<FieldTape<R>>,
}

impl<R: Real> RayBatch<R> {
    /// Marches, evaluates and composites `rays` of one frame whose blended table is
    /// `table`; `backgrounds[r]` is behind ray `r`, `jitters[r]` in [0, 1) offsets its samples.
    #[expect(
        clippy::too_many_arguments,
        reason = "the frame's model state and its rays"
    )]
    pub fn forward(
        model: &Model,
        params: &[R],
        table: &[R],
        occupancy: &OccupancyGrid,
        settings: &MarchSettings,
        rays: &[Ray],
        jitters: &[f32],
        backgrounds: &[[R; 3]],
    ) -> Self {
        let mut batch = Self::default();
        batch.forward_in_place(
            model,
            params,
            table,
            occupancy,
            settings,
            rays,
            jitters,
            backgrounds,
        );
        batch
    }

    /// [`Self::forward`] of a new batch into this one, reusing its buffers: a training loop
    /// that keeps one batch does not fault in fresh memory for every step's tapes.
    #[expect(
        clippy::too_many_arguments,
        reason = "the frame's model state and its rays"
    )]
    pub fn forward_in_place(
        &mut self,
        model: &Model,
        params: &[R],
        table: &[R],
        occupancy: &OccupancyGrid,
        settings: &MarchSettings,
        rays: &[Ray],
        jitters: &[f32],
        backgrounds: &[[R; 3]],
    ) {
        let samples = RaySamples::march(&model.config, settings, occupancy, rays, jitters);
        let directions: Vec<[R; 3]> = (0..samples.ray_count())
            .flat_map(|r| {
                let d = rays[r].direction.map(|v| R::of(f64::from(v)));
                std::iter::repeat_n(d, samples.offsets[r + 1] - samples.offsets[r])
            })
            .collect();
        let positions: Vec<[R; 3]> = samples
            .samples
            .iter()
            .map(|s| s.position.map(|v| R::of(f64::from(v))))
            .collect();
        let n = positions.len();
        self.sigma.resize(n, R::zero());
        self.rgb.resize(n, [R::zero(); 3]);
        self.tapes
            .resize_with(n.div_ceil(SAMPLE_CHUNK), FieldTape::default);
        positions
            .par_chunks(SAMPLE_CHUNK)
            .zip(directions.par_chunks(SAMPLE_CHUNK))
            .zip(self.sigma.par_chunks_mut(SAMPLE_CHUNK))
            .zip(self.rgb.par_chunks_mut(SAMPLE_CHUNK))
            .zip(self.tapes.par_iter_mut())
            .for_each(|((((p, d), sigma), rgb), tape)| {
                model.field_forward_into(params, table, p, d, (sigma, rgb), tape);
            });
        let dt: Vec<R> = samples
            .samples
            .iter()
            .map(|s| R::of(f64::from(s.dt)))
            .collect();
        let distance: Vec<R> = samples
            .samples
            .iter()
            .map(|s| R::of(f64::from(s.distance)))
            .collect();
        let threshold = R::of(f64::from(settings.transmittance_threshold));
        let (sigma, rgb) = (&self.sigma, &self.rgb);
        (0..samples.ray_count())
            .into_par_iter()
            .map(|r| {
                let span = samples.offsets[r]..samples.offsets[r + 1];
                composite(
                    &sigma[span.clone()],
                    &rgb[span.clone()],
                    &dt[span.clone()],
                    &distance[span],
                    backgrounds[r],
                    threshold,
                )
            })
            .collect_into_vec(&mut self.rays);
        self.samples = samples;
    }

    /// Back-propagates the gradients at each ray's colour and opacity: adds the MLP weight
    /// gradients to `d_params` (flat layout) and returns the gradient of the blended table.
    pub fn backward(
        &self,
        model: &Model,
        params: &[R],
        d_color: &[[R; 3]],
        d_alpha: &[R],
        d_params: &mut [R],
    ) -> Vec<R> {
        let n = self.sigma.len();
        let mut d_sigma = vec![R::zero(); n];
        let mut d_rgb = vec![[R::zero(); 3]; n];
        for r in 0..self.samples.ray_count() {
            let span = self.samples.offsets[r]..self.samples.offsets[r + 1];
            let dt: Vec<R> = self.samples.samples[span.clone()]
                .iter()
                .map(|s| R::of(f64::from(s.dt)))
                .collect();
            composite_backward(
                &self.sigma[span.clone()],
                &self.rgb[span.clone()],
                &dt,
                &self.rays[r],
                d_color[r],
                d_alpha[r],
                &mut d_sigma[span.clone()],
                &mut d_rgb[span],
            );
        }

        // One private (MLP gradient, table gradient) pair per thread, summed at the end.
        let table_len = model.layout.table_len;
        let mlp_len = model.mlp_params.len();
        let parts = rayon::current_num_threads().clamp(1, self.tapes.len().max(1));
        let tapes_per_part = self.tapes.len().div_ceil(parts).max(1);
        let partials: Vec<(Vec<R>, Vec<R>)> = self
            .tapes
            .par_chunks(tapes_per_part)
            .enumerate()
            .map(|(part, tapes)| {
                let mut d_mlp = vec![R::zero(); mlp_len];
                let mut d_table = vec![R::zero(); table_len];
                for (i, tape) in tapes.iter().enumerate() {
                    let start = (part * tapes_per_part + i) * SAMPLE_CHUNK;
                    let end = start + tape.positions.len();
                    model.field_backward(
                        params,
                        tape,
                        &d_sigma[start..end],
                        &d_rgb[start..end],
                        &mut d_mlp,
                        &mut d_table,
                    );
                }
                (d_mlp, d_table)
            })
            .collect();
        // The first part's table gradient gathers the others (no fresh table to fault in).
        let mut d_table: Option<Vec<R>> = None;
        for (d_mlp, part_table) in partials {
            for (g, v) in d_params[model.mlp_params.clone()].iter_mut().zip(d_mlp) {
                *g += v;
            }
            match &mut d_table {
                None => d_table = Some(part_table),
                Some(sum) => sum
                    .par_iter_mut()
                    .zip(part_table.par_iter())
                    .for_each(|(g, v)| *g += *v),
            }
        }
        d_table.unwrap_or_else(|| vec![R::zero(); table_len])
    }
}

/// What is behind the head in a rendered image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Background<'a> {
    /// One colour everywhere.
    Solid([f32; 3]),
    /// A colour per pixel, row-major, of the image's size.
    Image(&'a [[f32; 3]]),
}

/// A rendered frame.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Colour per pixel (background included), row-major.
    pub rgb: Vec<[f32; 3]>,
    /// Opacity per pixel (the head mask).
    pub alpha: Vec<f32>,
    /// Depth per pixel: the expected termination distance measured along the camera's
    /// viewing axis (head units, as a depth buffer's view depth); infinite where the opacity
    /// is 0.
    pub depth: Vec<f32>,
    /// Samples evaluated in all.
    pub samples: usize,
}

/// A finished pixel: colour over the background, opacity and depth.
type PixelValue = ([f32; 3], f32, f32);

/// Rays of one tile marched together, so that each round evaluates one batch.
const RAYS_PER_TILE: usize = 256;
/// Samples a live ray contributes per round (the GPU renderer can be set to the same, to
/// evaluate the same samples).
pub const SAMPLES_PER_ROUND: usize = 8;

/// Renders a whole image of the avatar with expression `weights` (already clamped) from
/// `pose`, with inference settings (early termination at T < 1e-2).
pub fn render_image(
    model: &Model,
    params: &Params<f32>,
    weights: &[f32],
    occupancy: &OccupancyGrid,
    intrinsics: &Intrinsics,
    pose: &Pose,
    background: Background<'_>,
) -> RenderedImage {
    let mut table = vec![0.0; model.layout.table_len];
    blend_tables(params.tables(), weights, &mut table);
    let settings = MarchSettings::inference(&model.config);
    let forward = pose.rotate([0.0, 0.0, -1.0]);
    let pixel_count = (intrinsics.width * intrinsics.height) as usize;
    let tiles: Vec<(Vec<PixelValue>, usize)> = (0..pixel_count)
        .collect::<Vec<_>>()
        .par_chunks(RAYS_PER_TILE)
        .map(|pixels| {
            let rays: Vec<Ray> = pixels
                .iter()
                .map(|&i| {
                    let (u, v) = ((i as u32) % intrinsics.width, (i as u32) / intrinsics.width);
                    Ray::through_pixel(intrinsics, pose, u, v)
                })
                .collect();
            let (states, samples) =
                march_tile(model, &params.data, &table, occupancy, &settings, &rays);
            let finished = states
                .iter()
                .zip(pixels)
                .zip(&rays)
                .map(|((state, &i), ray)| {
                    let bg = match background {
                        Background::Solid(c) => c,
                        Background::Image(pixels) => pixels[i],
                    };
                    let (rgb, alpha) = state.finish(bg);
                    let depth = state.expected_distance() * dot(ray.direction, forward);
                    (rgb, alpha, depth)
                })
                .collect();
            (finished, samples)
        })
        .collect();
    let mut image = RenderedImage {
        width: intrinsics.width,
        height: intrinsics.height,
        rgb: Vec::with_capacity(pixel_count),
        alpha: Vec::with_capacity(pixel_count),
        depth: Vec::with_capacity(pixel_count),
        samples: 0,
    };
    for (pixels, samples) in tiles {
        image.samples += samples;
        for (rgb, alpha, depth) in pixels {
            image.rgb.push(rgb);
            image.alpha.push(alpha);
            image.depth.push(depth);
        }
    }
    image
}

/// Marches a tile of rays in rounds: every live ray takes a few samples, all of them are
/// evaluated as one batch, composited, and rays that became opaque or left the box drop out.
fn march_tile(
    model: &Model,
    params: &[f32],
    table: &[f32],
    occupancy: &OccupancyGrid,
    settings: &MarchSettings,
    rays: &[Ray],
) -> (Vec<CompositeState<f32>>, usize) {
    let config = &model.config;
    let mut states = vec![CompositeState::default(); rays.len()];
    let mut live: Vec<(usize, RayMarcher)> = rays
        .iter()
        .enumerate()
        .filter_map(|(i, ray)| RayMarcher::new(config, settings, *ray, 0.0).map(|m| (i, m)))
        .collect();
    let mut evaluated = 0;
    let mut positions = Vec::new();
    let mut directions = Vec::new();
    let mut dts = Vec::new();
    let mut distances = Vec::new();
    let mut counts = Vec::new();
    let mut sigma = Vec::new();
    let mut rgb = Vec::new();
    let mut tape = FieldTape::default();
    while !live.is_empty() {
        positions.clear();
        directions.clear();
        dts.clear();
        distances.clear();
        counts.clear();
        for (i, marcher) in &mut live {
            let mut count = 0;
            while count < SAMPLES_PER_ROUND {
                let Some(sample) = marcher.next_sample(config, settings, occupancy) else {
                    break;
                };
                positions.push(sample.position);
                directions.push(rays[*i].direction);
                dts.push(sample.dt);
                distances.push(sample.distance);
                count += 1;
            }
            counts.push(count);
        }
        sigma.resize(positions.len(), 0.0);
        rgb.resize(positions.len(), [0.0; 3]);
        model.field_forward_into(
            params,
            table,
            &positions,
            &directions,
            (&mut sigma, &mut rgb),
            &mut tape,
        );
        evaluated += positions.len();
        let mut start = 0;
        let mut keep = Vec::with_capacity(live.len());
        for ((i, marcher), count) in live.drain(..).zip(&counts) {
            let span = start..start + count;
            start += count;
            let state = &mut states[i];
            state.add(
                &sigma[span.clone()],
                &rgb[span.clone()],
                &dts[span.clone()],
                &distances[span],
                settings.transmittance_threshold,
            );
            if *count == SAMPLES_PER_ROUND && !state.is_opaque(settings.transmittance_threshold) {
                keep.push((i, marcher));
            }
        }
        live = keep;
    }
    (states, evaluated)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    use super::*;
    use crate::config::ModelConfig;

    #[test]
    fn a_batch_rerun_in_place_equals_a_fresh_batch() {
        let config = ModelConfig::tiny();
        let model = Model::new(&config);
        let params = Params::<f32>::init(&config, &mut Pcg64::seed_from_u64(3));
        let table = params.table(0).to_vec();
        let occupancy = OccupancyGrid::full(config.occupancy_resolution);
        let settings = MarchSettings::training(&config);
        let intrinsics = Intrinsics::from_fov(64, 64, 30.0);
        let rays_of = |yaw: f32, count: u32| -> Vec<Ray> {
            let pose = Pose::orbit([0.0; 3], 0.5, yaw, 0.0);
            (0..count)
                .map(|i| Ray::through_pixel(&intrinsics, &pose, 20 + i % 24, 10 + i / 3))
                .collect()
        };
        let run = |batch: &mut RayBatch<f32>, rays: &[Ray]| {
            let n = rays.len();
            batch.forward_in_place(
                &model,
                &params.data,
                &table,
                &occupancy,
                &settings,
                rays,
                &vec![0.25; n],
                &vec![[1.0; 3]; n],
            );
        };
        // A larger batch first, so that the rerun shrinks every buffer.
        let mut reused = RayBatch::default();
        run(&mut reused, &rays_of(20.0, 120));
        let rays = rays_of(-10.0, 70);
        run(&mut reused, &rays);
        let fresh = RayBatch::forward(
            &model,
            &params.data,
            &table,
            &occupancy,
            &settings,
            &rays,
            &vec![0.25; rays.len()],
            &vec![[1.0; 3]; rays.len()],
        );
        assert!(fresh.sigma.len() > SAMPLE_CHUNK, "several chunks");
        assert_eq!(reused.samples, fresh.samples);
        assert_eq!(reused.sigma, fresh.sigma);
        assert_eq!(reused.rgb, fresh.rgb);
        assert_eq!(reused.rays, fresh.rays);
        let d_color = vec![[0.3, -0.1, 0.2]; rays.len()];
        let d_alpha = vec![0.5; rays.len()];
        let backward = |batch: &RayBatch<f32>| {
            let mut d_params = vec![0.0; params.data.len()];
            let d_table = batch.backward(&model, &params.data, &d_color, &d_alpha, &mut d_params);
            (d_params, d_table)
        };
        assert_eq!(backward(&reused), backward(&fresh));
    }

    #[test]
    fn image_depth_is_the_rays_expected_distance_along_the_viewing_axis() {
        let config = ModelConfig::tiny();
        let model = Model::new(&config);
        let mut rng = Pcg64::seed_from_u64(5);
        let mut params = Params::<f32>::init(&config, &mut rng);
        // Features of magnitude ~1 and a density made mostly positive and large, as
        // training makes them, so that rays become opaque.
        let base = params.layout.table(0);
        for v in &mut params.data[base] {
            *v = rand::Rng::random_range(&mut rng, -1.5..1.5);
        }
        let last = *params.layout.density_layers.last().unwrap();
        for v in &mut params.data[last.offset..last.offset + last.inputs] {
            *v = 8.0 * *v + 4.0 * v.abs();
        }
        let occupancy = OccupancyGrid::full(config.occupancy_resolution);
        let intrinsics = Intrinsics::from_fov(24, 20, 30.0);
        let pose = Pose::orbit([0.0; 3], 0.5, 25.0, -10.0);
        let weights = vec![0.0; config.blendshape_count()];
        let image = render_image(
            &model,
            &params,
            &weights,
            &occupancy,
            &intrinsics,
            &pose,
            Background::Solid([0.0; 3]),
        );
        // The same rays through the training path, which marches every sample at once.
        let rays: Vec<Ray> = (0..intrinsics.width * intrinsics.height)
            .map(|i| Ray::through_pixel(&intrinsics, &pose, i % 24, i / 24))
            .collect();
        let batch = RayBatch::forward(
            &model,
            &params.data,
            params.table(0),
            &occupancy,
            &MarchSettings::inference(&config),
            &rays,
            &vec![0.0; rays.len()],
            &vec![[0.0; 3]; rays.len()],
        );
        let forward = pose.rotate([0.0, 0.0, -1.0]);
        let mut covered = 0;
        for (p, ray) in rays.iter().enumerate() {
            let depth = image.depth[p];
            let Some((near, far)) = ray.intersect_box(&config.head_box, config.near_distance)
            else {
                assert_eq!(depth, f32::INFINITY, "pixel {p} misses the box");
                continue;
            };
            let cos = dot(ray.direction, forward);
            let expected = batch.rays[p].distance * cos;
            assert!(
                (depth - expected).abs() <= 1e-5 * expected,
                "pixel {p}: {depth} vs {expected}"
            );
            assert!(
                (near * cos..=far * cos).contains(&depth),
                "pixel {p}: depth {depth} outside the box ({near}..{far} along the ray)"
            );
            covered += usize::from(image.alpha[p] > 0.5);
        }
        assert!(covered > 20, "only {covered} pixels show the head");
    }
}
