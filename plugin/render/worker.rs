//! The render worker: a thread that takes frame jobs and hands finished frames back without
//! ever making the main schedule wait. It owns one [`Renderer`] per avatar, made on the
//! avatar's first job by the worker's backend (the core crate's CPU reference renderer, which
//! parallelises each frame over rayon's pool; the CUDA renderer with the `cuda` feature), and
//! drops it once the avatar's asset is gone.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bevy::ecs::entity::Entity;
use bevy::log::warn;
use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use nerf_avatar::asset::Avatar;
use nerf_avatar::camera::{Intrinsics, Pose};
use nerf_avatar::render::Background;
use nerf_avatar::renderer::{CpuRenderer, FrameRequest, RenderError, Renderer};

/// Jobs a worker holds before it refuses new ones.
const QUEUE_LENGTH: usize = 8;

/// One frame to render.
#[derive(Clone, Debug)]
pub struct FrameJob {
    /// The avatar entity the frame is for.
    pub entity: Entity,
    /// Increases with every job of the entity, so that late frames can be told apart.
    pub sequence: u64,
    /// The avatar.
    pub avatar: Arc<Avatar>,
    /// One weight per blendshape, clamped to the avatar's range.
    pub weights: Vec<f32>,
    /// The frame's camera.
    pub intrinsics: Intrinsics,
    /// The camera-to-head pose.
    pub pose: Pose,
}

/// A finished frame.
#[derive(Clone, Debug)]
pub struct FinishedFrame {
    /// The avatar entity it is for.
    pub entity: Entity,
    /// The job's sequence number.
    pub sequence: u64,
    /// Edge of the square frame in pixels.
    pub size: u32,
    /// RGBA8 for an sRGB texture with premultiplied alpha: the head's own colour
    /// premultiplied by its opacity in linear light, sRGB-encoded
    /// ([`RenderedImage::to_linear_premultiplied_rgba8_bytes`]), and the opacity.
    pub rgba: Vec<u8>,
    /// How long the renderer took.
    pub render_time: Duration,
}

/// A job the renderer could not render.
#[derive(Clone, Debug)]
pub struct FailedFrame {
    /// The avatar entity it is for.
    pub entity: Entity,
    /// The job's sequence number.
    pub sequence: u64,
    /// What went wrong.
    pub error: String,
}

/// Makes the renderer of an avatar on a worker's backend (on the worker's thread).
pub type MakeRenderer =
    Box<dyn FnMut(&Arc<Avatar>) -> Result<Box<dyn Renderer>, RenderError> + Send>;

/// A renderer thread of one backend.
pub struct RenderWorker {
    backend: &'static str,
    jobs: Option<Sender<FrameJob>>,
    frames: Receiver<Result<FinishedFrame, FailedFrame>>,
    thread: Option<JoinHandle<()>>,
}

impl RenderWorker {
    /// Starts a worker thread whose renderers `make_renderer` makes.
    pub fn spawn(backend: &'static str, mut make_renderer: MakeRenderer) -> std::io::Result<Self> {
        let (jobs, incoming) = crossbeam_channel::bounded::<FrameJob>(QUEUE_LENGTH);
        let (outgoing, frames) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name(format!("nerf-avatar-{backend}"))
            .spawn(move || {
                let mut renderers: Vec<(Arc<Avatar>, Box<dyn Renderer>)> = Vec::new();
                for job in incoming {
                    // A renderer whose avatar only this thread still holds is not needed.
                    renderers.retain(|(avatar, _)| Arc::strong_count(avatar) > 1);
                    let report = render_job(&job, &mut renderers, &mut make_renderer);
                    if outgoing.send(report).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Self {
            backend,
            jobs: Some(jobs),
            frames,
            thread: Some(thread),
        })
    }

    /// A worker of the CPU reference renderer.
    pub fn cpu() -> std::io::Result<Self> {
        Self::spawn(
            "cpu",
            Box::new(|avatar| Ok(Box::new(CpuRenderer::new(Arc::clone(avatar))))),
        )
    }

    /// The backend's name: `cpu` or `cuda`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Queues a job; gives it back when the worker is busy or gone.
    pub fn submit(&self, job: FrameJob) -> Result<(), Box<FrameJob>> {
        let Some(jobs) = &self.jobs else {
            return Err(Box::new(job));
        };
        jobs.try_send(job).map_err(|error| match error {
            TrySendError::Full(job) | TrySendError::Disconnected(job) => Box::new(job),
        })
    }

    /// A finished (or failed) frame, if one is ready (never waits).
    pub fn try_receive(&self) -> Option<Result<FinishedFrame, FailedFrame>> {
        match self.frames.try_recv() {
            Ok(report) => Some(report),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                warn!("the {} avatar render worker stopped", self.backend);
                None
            }
        }
    }
}

impl Drop for RenderWorker {
    fn drop(&mut self) {
        // Closing the job channel ends the worker's loop after its current frame.
        self.jobs = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            warn!("the {} avatar render worker panicked", self.backend);
        }
    }
}

/// Renders `job` over black (so that the colour over the opacity is the head's own) with the
/// avatar's renderer from `renderers`, made first if it has none.
fn render_job(
    job: &FrameJob,
    renderers: &mut Vec<(Arc<Avatar>, Box<dyn Renderer>)>,
    make_renderer: &mut MakeRenderer,
) -> Result<FinishedFrame, FailedFrame> {
    let failed = |error: RenderError| FailedFrame {
        entity: job.entity,
        sequence: job.sequence,
        error: error.to_string(),
    };
    let index = match renderers
        .iter()
        .position(|(avatar, _)| Arc::ptr_eq(avatar, &job.avatar))
    {
        Some(index) => index,
        None => {
            let renderer = make_renderer(&job.avatar).map_err(failed)?;
            renderers.push((Arc::clone(&job.avatar), renderer));
            renderers.len() - 1
        }
    };
    let start = Instant::now();
    let image = renderers[index]
        .1
        .render(&FrameRequest {
            weights: &job.weights,
            intrinsics: job.intrinsics,
            pose: job.pose,
            background: Background::Solid([0.0; 3]),
        })
        .map_err(failed)?;
    Ok(FinishedFrame {
        entity: job.entity,
        sequence: job.sequence,
        size: job.intrinsics.width,
        rgba: image.to_linear_premultiplied_rgba8_bytes(),
        render_time: start.elapsed(),
    })
}
