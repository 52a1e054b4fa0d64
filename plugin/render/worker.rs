//! Frame sources: renderers that take frame requests and hand finished frames back without
//! ever making the main schedule wait. [`CpuWorker`] runs the core crate's CPU renderer on a
//! thread of its own, fed and drained through crossbeam channels. Other renderers (a CUDA
//! worker, the GPU shader renderer) implement [`FrameSource`] the same way.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bevy::ecs::entity::Entity;
use bevy::log::warn;
use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use nerf_avatar::asset::Avatar;
use nerf_avatar::camera::{Intrinsics, Pose};
use nerf_avatar::field::Model;
use nerf_avatar::render::{Background, render_image};

/// Requests a worker holds before it refuses new ones.
const QUEUE_LENGTH: usize = 8;

/// One frame to render.
#[derive(Clone, Debug)]
pub struct FrameRequest {
    /// The avatar entity the frame is for.
    pub entity: Entity,
    /// Increases with every request of the entity, so that late frames can be told apart.
    pub sequence: u64,
    /// The avatar.
    pub avatar: Arc<Avatar>,
    /// Its network layout.
    pub model: Arc<Model>,
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
    /// The request's sequence number.
    pub sequence: u64,
    /// Edge of the square frame in pixels.
    pub size: u32,
    /// RGBA8, colour premultiplied by opacity (the values are the model's sRGB values).
    pub rgba: Vec<u8>,
    /// How long the renderer took.
    pub render_time: Duration,
}

/// A renderer that turns requests into frames asynchronously.
pub trait FrameSource: Send + Sync {
    /// A short name for logs and benchmarks.
    fn name(&self) -> &str;
    /// Queues a request; gives it back when the renderer is busy or gone.
    fn submit(&self, request: FrameRequest) -> Result<(), Box<FrameRequest>>;
    /// A finished frame, if one is ready (never waits).
    fn try_receive(&self) -> Option<FinishedFrame>;
}

/// The CPU renderer of the core crate on a worker thread (it parallelises each frame over
/// rayon's pool).
pub struct CpuWorker {
    requests: Option<Sender<FrameRequest>>,
    frames: Receiver<FinishedFrame>,
    thread: Option<JoinHandle<()>>,
}

impl CpuWorker {
    /// Starts the worker thread.
    pub fn spawn() -> std::io::Result<Self> {
        let (requests, incoming) = crossbeam_channel::bounded::<FrameRequest>(QUEUE_LENGTH);
        let (outgoing, frames) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("nerf-avatar-cpu".into())
            .spawn(move || {
                for request in incoming {
                    if outgoing.send(render_request(&request)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Self {
            requests: Some(requests),
            frames,
            thread: Some(thread),
        })
    }
}

impl FrameSource for CpuWorker {
    fn name(&self) -> &str {
        "cpu"
    }

    fn submit(&self, request: FrameRequest) -> Result<(), Box<FrameRequest>> {
        let Some(requests) = &self.requests else {
            return Err(Box::new(request));
        };
        requests.try_send(request).map_err(|error| match error {
            TrySendError::Full(request) | TrySendError::Disconnected(request) => Box::new(request),
        })
    }

    fn try_receive(&self) -> Option<FinishedFrame> {
        match self.frames.try_recv() {
            Ok(frame) => Some(frame),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                warn!("the CPU avatar render worker stopped");
                None
            }
        }
    }
}

impl Drop for CpuWorker {
    fn drop(&mut self) {
        // Closing the request channel ends the worker's loop after its current frame.
        self.requests = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            warn!("the CPU avatar render worker panicked");
        }
    }
}

/// Renders a request with the CPU renderer over black, so that the colour is premultiplied.
pub fn render_request(request: &FrameRequest) -> FinishedFrame {
    let start = Instant::now();
    let image = render_image(
        &request.model,
        &request.avatar.params,
        &request.weights,
        &request.avatar.occupancy,
        &request.intrinsics,
        &request.pose,
        Background::Solid([0.0; 3]),
    );
    FinishedFrame {
        entity: request.entity,
        sequence: request.sequence,
        size: request.intrinsics.width,
        rgba: image.to_rgba8_bytes(),
        render_time: start.elapsed(),
    }
}
