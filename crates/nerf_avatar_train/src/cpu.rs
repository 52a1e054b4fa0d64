//! The training step on the CPU, the reference backend: the blend, ray batches rendered and
//! back-propagated by [`RayBatch`] (its buffers kept across steps), patch LPIPS with
//! [`PatchLpips`], the sparsity term, Adam and the occupancy update, all on the host.

use rand::Rng;
use rand_pcg::Pcg64;

use super::TrainError;
use super::adam::Adam;
use super::loss::{ray_loss, sparsity_loss};
use super::run::{BatchLoss, RayJob, RunStart, StepBackend, StepOutcome};
use nerf_avatar::asset::Avatar;
use nerf_avatar::field::Model;
use nerf_avatar::hashgrid::{blend_tables, blend_tables_backward};
use nerf_avatar::march::MarchSettings;
use nerf_avatar::params::Params;
use nerf_avatar::render::RayBatch;
use nerf_avatar_eval::metrics::lpips::Backbone;
use nerf_avatar_eval::metrics::lpips::patch::PatchLpips;

/// The CPU's model, buffers and gradients of a run.
pub(crate) struct CpuSteps {
    model: Model,
    settings: MarchSettings,
    lpips: Option<PatchLpips>,
    grads: Params<f32>,
    table: Vec<f32>,
    d_table: Vec<f32>,
    /// One per batch of a frame (its rays, the patch), reused across steps.
    ray_batches: [RayBatch<f32>; 2],
    /// The losses of the step's batches so far.
    losses: Vec<BatchLoss>,
    /// The step's sparsity loss.
    sparsity: f64,
}

impl CpuSteps {
    /// The backend of a run (loads the LPIPS weights when the run uses them).
    pub(crate) fn new(start: RunStart<'_>) -> Result<Self, TrainError> {
        let lpips = if start.options.perceptual_loss {
            Some(PatchLpips::load_default(Backbone::Vgg)?)
        } else {
            None
        };
        let model = Model::new(start.config);
        let table_len = model.layout.table_len;
        Ok(Self {
            settings: MarchSettings::training(start.config),
            lpips,
            grads: Params::zeros(start.avatar.params.layout.clone()),
            table: vec![0.0; table_len],
            d_table: vec![0.0; table_len],
            ray_batches: Default::default(),
            losses: Vec::new(),
            sparsity: 0.0,
            model,
        })
    }
}

impl StepBackend for CpuSteps {
    const NAME: &'static str = "cpu";

    fn clear_gradients(&mut self) -> Result<(), TrainError> {
        self.grads.data.fill(0.0);
        Ok(())
    }

    fn blend(&mut self, avatar: &Avatar, weights: &[f32]) -> Result<(), TrainError> {
        blend_tables(avatar.params.tables(), weights, &mut self.table);
        self.d_table.fill(0.0);
        Ok(())
    }

    fn rays(
        &mut self,
        avatar: &Avatar,
        job: RayJob<'_>,
        rng: &mut Pcg64,
    ) -> Result<usize, TrainError> {
        let perceptual = job
            .patch_side
            .and_then(|side| self.lpips.as_ref().map(|lpips| (lpips, side)));
        let batch = &mut self.ray_batches[job.index];
        let targets = job.targets;
        let jitters: Vec<f32> = (0..targets.rays.len())
            .map(|_| rng.random::<f32>())
            .collect();
        batch.forward_in_place(
            &self.model,
            &avatar.params.data,
            &self.table,
            &avatar.occupancy,
            &self.settings,
            &targets.rays,
            &jitters,
            &targets.background,
        );
        let mut loss = ray_loss(&batch.rays, targets, job.weights, job.scale);
        if let Some((lpips, side)) = perceptual
            && batch.rays.len() == (side * side) as usize
        {
            let rendered: Vec<f32> = batch.rays.iter().flat_map(|r| r.color).collect();
            let truth: Vec<f32> = targets.color.iter().flatten().copied().collect();
            let side = side as usize;
            let (distance, gradient) =
                lpips.distance_and_gradient(&[&rendered], &[&truth], side, side)?;
            let weight = job.scale * job.weights.color;
            loss.value += f64::from(weight * distance);
            for (d, g) in loss.d_color.iter_mut().zip(gradient[0].chunks_exact(3)) {
                for c in 0..3 {
                    d[c] += weight * g[c];
                }
            }
        }
        let d_table = batch.backward(
            &self.model,
            &avatar.params.data,
            &loss.d_color,
            &loss.d_alpha,
            &mut self.grads.data,
        );
        for (g, v) in self.d_table.iter_mut().zip(d_table) {
            *g += v;
        }
        self.losses.push(BatchLoss::from(&loss));
        Ok(batch.samples.samples.len())
    }

    fn blend_backward(&mut self, weights: &[f32]) -> Result<(), TrainError> {
        let tables = self.grads.layout.tables();
        blend_tables_backward(&self.d_table, weights, &mut self.grads.data[tables]);
        Ok(())
    }

    fn sparsity(&mut self, avatar: &Avatar, weight: f32) -> Result<(), TrainError> {
        let layout = &avatar.params.layout;
        let deltas = layout.table(1).start..layout.tables().end;
        self.sparsity = sparsity_loss(
            &avatar.params.data[deltas.clone()],
            &mut self.grads.data[deltas],
            weight,
        );
        Ok(())
    }

    fn step_outcome(&mut self) -> Result<StepOutcome, TrainError> {
        let bad = self.grads.data.iter().find(|g| !g.is_finite());
        Ok(StepOutcome {
            batches: std::mem::take(&mut self.losses),
            sparsity: std::mem::take(&mut self.sparsity),
            nonfinite_gradient: bad.map(|&g| f64::from(g)),
        })
    }

    fn adam_step(
        &mut self,
        avatar: &mut Avatar,
        adam: &mut Adam,
        learning_rate: f32,
    ) -> Result<(), TrainError> {
        adam.step(&mut avatar.params.data, &self.grads.data, learning_rate);
        Ok(())
    }

    fn update_occupancy(
        &mut self,
        avatar: &mut Avatar,
        max_weights: &[f32],
        seed: u64,
    ) -> Result<(), TrainError> {
        avatar
            .occupancy
            .update(&self.model, &avatar.params, max_weights, seed);
        Ok(())
    }

    fn sync(&mut self, _avatar: &mut Avatar, _adam: &mut Adam) -> Result<(), TrainError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
