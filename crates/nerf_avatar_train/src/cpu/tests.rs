//! The gradient of a training step on the CPU backend, as the loop wires it: the gradient
//! Adam receives is the sum of the step's batches' own gradients (each batch, a frame's rays
//! or its patch, rendered alone through the table of its frame's own coefficients and
//! back-propagated from zero gradients) and the sparsity term's. A wiring bug of the loop or
//! of the backend breaks the equality: a frame's gradients overwriting the previous frame's
//! instead of adding to them, a patch's table gradient overwriting its frame's ray batch's,
//! or rays paired with another frame's table.

use rand_pcg::Pcg64;

use super::CpuSteps;
use crate::adam::Adam;
use crate::data::{RayTargets, TrainingData};
use crate::loss::{RayLossWeights, sparsity_loss};
use crate::run::{RayJob, RunStart, StepBackend, StepOutcome, run};
use crate::{RunLength, TrainControl, TrainError, TrainOptions, new_optimizer};
use nerf_avatar::asset::Avatar;
use nerf_avatar::camera::Intrinsics;
use nerf_avatar_data::synthetic::SyntheticHead;
use nerf_avatar_data::synthetic::backdrop::backdrop;
use nerf_avatar_data::synthetic::motion::talking_head_video;
use nerf_avatar_data::{Dataset, DatasetHeader, DatasetWriter, FrameRecord, Split};

/// Frames of the dataset (the poses of every [`STRIDE`]th frame of the synthetic talking
/// head's video) and their side in pixels.
const FRAMES: usize = 8;
const STRIDE: usize = 12;
const SIDE: u32 = 24;

/// Steps of the run: the first in the colour-and-mask stage, the last in the perceptual one
/// (a ray batch and a patch per frame).
const STEPS: u64 = 4;

/// Frame `index`'s expression: each control at its own level, no two frames alike.
fn expression(index: usize) -> Vec<f32> {
    (0..SyntheticHead::CONTROLS.len())
        .map(|control| ((index + control) % FRAMES) as f32 / FRAMES as f32)
        .collect()
}

/// Writes [`FRAMES`] frames of the synthetic talking head as a training set in `folder`.
fn write_synthetic_dataset(folder: &std::path::Path) {
    let head = SyntheticHead::new();
    let intrinsics = Intrinsics::from_fov(SIDE, SIDE, 20.0);
    let background = backdrop(SIDE, SIDE);
    let header = DatasetHeader {
        intrinsics,
        blendshapes: SyntheticHead::CONTROLS.map(str::to_owned).to_vec(),
        head_box: head.head_box(),
    };
    let mut writer = DatasetWriter::create(folder, header, &background).unwrap();
    let video = talking_head_video(FRAMES * STRIDE, 1);
    for (index, frame) in video.into_iter().step_by(STRIDE).enumerate() {
        let (pose, expression) = (frame.pose, expression(index));
        let rendered = head
            .render(&intrinsics, &pose, &expression, &background)
            .unwrap();
        let record = FrameRecord {
            source_frame: index as u64,
            face_box: head.face_box(&intrinsics, &pose, &expression),
            mouth_box: head.mouth_box(&intrinsics, &pose, &expression),
            pose,
            expression,
            split: Split::Train,
        };
        writer
            .add_frame(record, &rendered.rgb, &rendered.mask())
            .unwrap();
    }
    writer.finish().unwrap();
}

/// A batch of rays as the loop handed it to the backend.
struct RecordedBatch {
    targets: RayTargets,
    weights: RayLossWeights,
    scale: f32,
    patch_side: Option<u32>,
    index: usize,
    /// The generator as the batch found it (the batch draws its jitters from it).
    rng: Pcg64,
}

impl RecordedBatch {
    /// The job the loop gave.
    fn job(&self) -> RayJob<'_> {
        RayJob {
            targets: &self.targets,
            weights: self.weights,
            scale: self.scale,
            patch_side: self.patch_side,
            index: self.index,
        }
    }
}

/// A frame of a step: the coefficients its table was blended with, and its batches.
struct RecordedFrame {
    weights: Vec<f32>,
    batches: Vec<RecordedBatch>,
}

/// A step: the avatar it started from, its frames and the gradient it gave Adam.
struct RecordedStep {
    avatar: Avatar,
    frames: Vec<RecordedFrame>,
    gradient: Vec<f32>,
}

/// The CPU backend, recording into `steps` every step the loop asks of it.
struct Recorder<'a> {
    cpu: CpuSteps,
    steps: &'a mut Vec<RecordedStep>,
    /// The step under way: its frames so far, and its avatar (taken at its first blend).
    frames: Vec<RecordedFrame>,
    avatar: Option<Avatar>,
}

impl StepBackend for Recorder<'_> {
    const NAME: &'static str = CpuSteps::NAME;

    fn clear_gradients(&mut self) -> Result<(), TrainError> {
        self.cpu.clear_gradients()
    }

    fn blend(&mut self, avatar: &Avatar, weights: &[f32]) -> Result<(), TrainError> {
        self.avatar.get_or_insert_with(|| avatar.clone());
        self.frames.push(RecordedFrame {
            weights: weights.to_vec(),
            batches: Vec::new(),
        });
        self.cpu.blend(avatar, weights)
    }

    fn rays(
        &mut self,
        avatar: &Avatar,
        job: RayJob<'_>,
        rng: &mut Pcg64,
    ) -> Result<usize, TrainError> {
        let batch = RecordedBatch {
            targets: job.targets.clone(),
            weights: job.weights,
            scale: job.scale,
            patch_side: job.patch_side,
            index: job.index,
            rng: rng.clone(),
        };
        let frame = self.frames.last_mut().expect("rays come after a blend");
        frame.batches.push(batch);
        self.cpu.rays(avatar, job, rng)
    }

    fn blend_backward(&mut self, weights: &[f32]) -> Result<(), TrainError> {
        self.cpu.blend_backward(weights)
    }

    fn sparsity(&mut self, avatar: &Avatar, weight: f32) -> Result<(), TrainError> {
        self.cpu.sparsity(avatar, weight)
    }

    fn step_outcome(&mut self) -> Result<StepOutcome, TrainError> {
        self.cpu.step_outcome()
    }

    fn adam_step(
        &mut self,
        avatar: &mut Avatar,
        adam: &mut Adam,
        learning_rate: f32,
    ) -> Result<(), TrainError> {
        let step = RecordedStep {
            avatar: self.avatar.take().expect("a step blends a table"),
            frames: std::mem::take(&mut self.frames),
            gradient: self.cpu.grads.data.clone(),
        };
        self.steps.push(step);
        self.cpu.adam_step(avatar, adam, learning_rate)
    }

    fn update_occupancy(
        &mut self,
        avatar: &mut Avatar,
        max_weights: &[f32],
        seed: u64,
    ) -> Result<(), TrainError> {
        self.cpu.update_occupancy(avatar, max_weights, seed)
    }

    fn sync(&mut self, avatar: &mut Avatar, adam: &mut Adam) -> Result<(), TrainError> {
        self.cpu.sync(avatar, adam)
    }
}

/// The options of the run: two frames per step, few rays, small patches, no LPIPS.
fn options(dataset: &Dataset) -> TrainOptions {
    let t = &dataset.transforms;
    let mut config =
        nerf_avatar::config::ModelConfig::tiny().with_blendshapes(t.blendshapes.clone());
    config.head_box = t.head_box;
    let mut options = TrainOptions::new(config, RunLength::Steps(STEPS));
    options.rays_per_frame = 48;
    options.patch_size = 6;
    options.perceptual_loss = false;
    options.seed = 3;
    options
}

/// The coefficients (clamped to `avatar`'s range) of the training frame `batches` were drawn
/// from: the one whose camera every ray leaves.
fn own_weights(data: &TrainingData, avatar: &Avatar, batches: &[RecordedBatch]) -> Vec<f32> {
    let origin = batches[0].targets.rays[0].origin;
    let mut rays = batches.iter().flat_map(|b| &b.targets.rays);
    assert!(rays.all(|ray| ray.origin == origin));
    let frames: Vec<_> = data
        .frames
        .iter()
        .filter(|frame| frame.pose.origin() == origin)
        .collect();
    assert_eq!(frames.len(), 1, "each frame has its own camera");
    let mut weights = frames[0].weights.clone();
    avatar.clamp_expression(&mut weights);
    weights
}

/// What `step`'s gradient should be: each of its batches alone rendered through the table
/// of its frame's own coefficients and back-propagated from zero gradients, the batches'
/// gradients summed and the sparsity term's added.
fn expected_gradient(options: &TrainOptions, data: &TrainingData, step: &RecordedStep) -> Vec<f32> {
    let avatar = &step.avatar;
    let adam = new_optimizer(avatar);
    let start = RunStart {
        config: &options.config,
        avatar,
        adam: &adam,
        options,
    };
    let mut cpu = CpuSteps::new(start).unwrap();
    let mut sum = vec![0.0f32; step.gradient.len()];
    for frame in &step.frames {
        let weights = own_weights(data, avatar, &frame.batches);
        for batch in &frame.batches {
            cpu.clear_gradients().unwrap();
            cpu.blend(avatar, &weights).unwrap();
            cpu.rays(avatar, batch.job(), &mut batch.rng.clone())
                .unwrap();
            cpu.blend_backward(&weights).unwrap();
            for (total, g) in sum.iter_mut().zip(&cpu.grads.data) {
                *total += g;
            }
        }
    }
    let layout = &avatar.params.layout;
    let deltas = layout.table(1).start..layout.tables().end;
    sparsity_loss(
        &avatar.params.data[deltas.clone()],
        &mut sum[deltas],
        options.schedule.sparsity_weight,
    );
    sum
}

#[test]
fn a_steps_gradient_is_the_sum_of_its_batches_own_gradients() {
    let folder = tempfile::tempdir().unwrap();
    write_synthetic_dataset(folder.path());
    let dataset = Dataset::load(folder.path()).unwrap();
    let options = options(&dataset);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let control = TrainControl {
        stop: &stop,
        on_progress: &mut |_| {},
    };
    let mut steps = Vec::new();
    run(&dataset, "synthetic", &options, control, |start| {
        Ok(Recorder {
            cpu: CpuSteps::new(start)?,
            steps: &mut steps,
            frames: Vec::new(),
            avatar: None,
        })
    })
    .unwrap();

    let data = TrainingData::load(&dataset, Split::Train).unwrap();
    assert_eq!(steps.len() as u64, STEPS);
    let last = &steps[STEPS as usize - 1];
    assert!(
        last.frames.iter().all(|f| f.batches.len() == 2),
        "the last step is in the perceptual stage (a ray batch and a patch per frame)"
    );
    for (index, step) in steps.iter().enumerate() {
        assert_eq!(step.frames.len(), options.frames_per_step);
        for frame in &step.frames {
            assert_eq!(
                frame.weights,
                own_weights(&data, &step.avatar, &frame.batches),
                "step {index}: a frame's rays are rendered with another frame's table"
            );
        }
        let expected = expected_gradient(&options, &data, step);
        // Only the order of the sums differs (a batch's values added one by one into the
        // step's buffer, or into a zeroed one and then added). Measured, the worst difference
        // over the largest gradient: at most 2.3e-7; 0.45 where the loop clears the gradients
        // at each frame, 2.0e-2 where `blend_tables_backward` overwrites the tables'
        // gradients, 2.9e-3 where a patch's table gradient overwrites its frame's rays'.
        let largest = expected.iter().fold(0.0f32, |m, g| m.max(g.abs()));
        let worst = step
            .gradient
            .iter()
            .zip(&expected)
            .map(|(g, e)| (g - e).abs())
            .fold(0.0f32, f32::max);
        assert!(largest > 0.0, "step {index}: no gradient");
        assert!(
            worst <= 1e-4 * largest,
            "step {index}: the step's gradient is off the sum of its batches' own gradients \
             by up to {worst:e} (largest gradient {largest:e})"
        );
    }
}
