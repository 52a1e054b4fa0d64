//! Double-buffered frames for engines: a worker thread owns a renderer (the CPU's, or the
//! GPU's `nerf_avatar_cuda::render::CudaRenderer`) and renders the next frame into one RGBA8
//! buffer while the caller uploads the last one from the other (into a wgpu texture, say).
//! At most two frames are in flight; buffers handed back with [`FramePipeline::recycle`] are
//! reused, so a steady loop allocates nothing.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::camera::{Intrinsics, Pose};
use crate::field::Model;
use crate::occupancy::OccupancyGrid;
use crate::params::Params;
use crate::render::{Background, render_image};

/// Frames rendered or being rendered at once: the one the caller holds and the next.
pub const FRAMES_IN_FLIGHT: usize = 2;

/// What to render.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameRequest {
    /// Expression weights, already clamped to the avatar's ranges.
    pub weights: Vec<f32>,
    /// The camera.
    pub intrinsics: Intrinsics,
    /// Camera-to-head pose.
    pub pose: Pose,
    /// Solid background colour behind the head.
    pub background: [f32; 3],
}

/// A finished frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// RGBA8, row-major, R first (a wgpu `Rgba8Unorm` texture's layout): colour over the
    /// background, alpha the head's opacity.
    pub rgba8: Vec<u8>,
    /// Samples evaluated.
    pub samples: usize,
}

/// A renderer the pipeline's worker thread can own.
pub trait FrameSource: Send + 'static {
    /// Renders `request` into `out` (4 bytes per pixel); returns the samples evaluated.
    fn render_rgba8(&mut self, request: &FrameRequest, out: &mut [u8]) -> Result<usize, String>;
}

/// Why a frame could not be had.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FrameError {
    /// Two frames are already in flight: receive one first.
    #[error("{FRAMES_IN_FLIGHT} frames are already in flight; receive one before submitting")]
    Busy,
    /// `receive` without a frame in flight.
    #[error("no frame was submitted")]
    NothingSubmitted,
    /// The renderer failed.
    #[error("rendering failed: {0}")]
    Render(String),
    /// The worker thread is gone (it panicked).
    #[error("the rendering thread stopped")]
    Stopped,
}

/// The CPU reference renderer as a [`FrameSource`].
pub struct CpuFrameSource {
    /// The model.
    pub model: Model,
    /// Its parameters.
    pub params: Params<f32>,
    /// Its occupancy grid.
    pub occupancy: OccupancyGrid,
}

impl FrameSource for CpuFrameSource {
    fn render_rgba8(&mut self, request: &FrameRequest, out: &mut [u8]) -> Result<usize, String> {
        let pixels = (request.intrinsics.width * request.intrinsics.height) as usize;
        if out.len() != 4 * pixels || request.weights.len() != self.model.config.blendshape_count()
        {
            return Err("frame buffer or expression of the wrong size".into());
        }
        let image = render_image(
            &self.model,
            &self.params,
            &request.weights,
            &self.occupancy,
            &request.intrinsics,
            &request.pose,
            Background::Solid(request.background),
        );
        out.copy_from_slice(&image.to_rgba8_bytes());
        Ok(image.samples)
    }
}

type Job = (FrameRequest, Vec<u8>);

/// A renderer on its own thread with two frame buffers.
pub struct FramePipeline {
    requests: Option<SyncSender<Job>>,
    frames: Receiver<Result<Frame, String>>,
    spare: Vec<Vec<u8>>,
    in_flight: usize,
    worker: Option<JoinHandle<()>>,
}

impl FramePipeline {
    /// Starts the worker thread that owns `source`.
    pub fn new<S: FrameSource>(mut source: S) -> Self {
        let (requests, jobs) = sync_channel::<Job>(FRAMES_IN_FLIGHT);
        let (done, frames) = sync_channel(FRAMES_IN_FLIGHT);
        let worker = std::thread::spawn(move || {
            for (request, mut buffer) in jobs {
                let (width, height) = (request.intrinsics.width, request.intrinsics.height);
                buffer.resize(4 * (width as usize) * (height as usize), 0);
                let result = source
                    .render_rgba8(&request, &mut buffer)
                    .map(|samples| Frame {
                        width,
                        height,
                        rgba8: buffer,
                        samples,
                    });
                if done.send(result).is_err() {
                    break;
                }
            }
        });
        Self {
            requests: Some(requests),
            frames,
            spare: Vec::new(),
            in_flight: 0,
            worker: Some(worker),
        }
    }

    /// Queues a frame; it renders while the caller works on the last one.
    pub fn submit(&mut self, request: FrameRequest) -> Result<(), FrameError> {
        if self.in_flight >= FRAMES_IN_FLIGHT {
            return Err(FrameError::Busy);
        }
        let buffer = self.spare.pop().unwrap_or_default();
        let requests = self.requests.as_ref().ok_or(FrameError::Stopped)?;
        requests
            .send((request, buffer))
            .map_err(|_| FrameError::Stopped)?;
        self.in_flight += 1;
        Ok(())
    }

    /// The oldest submitted frame, waiting for it if it is not finished.
    pub fn receive(&mut self) -> Result<Frame, FrameError> {
        if self.in_flight == 0 {
            return Err(FrameError::NothingSubmitted);
        }
        let result = self.frames.recv().map_err(|_| FrameError::Stopped)?;
        self.in_flight -= 1;
        result.map_err(FrameError::Render)
    }

    /// Hands a frame's buffer back for a later frame.
    pub fn recycle(&mut self, frame: Frame) {
        if self.spare.len() < FRAMES_IN_FLIGHT {
            self.spare.push(frame.rgba8);
        }
    }
}

impl Drop for FramePipeline {
    fn drop(&mut self) {
        // Closing the request channel ends the worker's loop once its frames are done.
        self.requests = None;
        while self.in_flight > 0 && self.frames.recv().is_ok() {
            self.in_flight -= 1;
        }
        if let Some(worker) = self.worker.take() {
            // A worker that panicked has nothing left to report here.
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    use super::*;
    use crate::config::ModelConfig;

    fn source() -> CpuFrameSource {
        let config = ModelConfig::tiny().with_blendshapes(vec!["jawOpen".into()]);
        let params = Params::init(&config, &mut Pcg64::seed_from_u64(1));
        CpuFrameSource {
            model: Model::new(&config),
            params,
            occupancy: OccupancyGrid::full(config.occupancy_resolution),
        }
    }

    fn request(yaw: f32, size: u32) -> FrameRequest {
        FrameRequest {
            weights: vec![0.5],
            intrinsics: Intrinsics::from_fov(size, size, 30.0),
            pose: Pose::orbit([0.0; 3], 0.6, yaw, 0.0),
            background: [1.0, 0.0, 0.5],
        }
    }

    #[test]
    fn frames_come_back_in_order_equal_to_direct_renders() {
        let mut direct = source();
        let mut pipeline = FramePipeline::new(source());
        let requests: Vec<FrameRequest> = (0..4).map(|i| request(10.0 * i as f32, 12)).collect();
        pipeline.submit(requests[0].clone()).unwrap();
        for i in 0..requests.len() {
            // The next frame renders while this one is "uploaded".
            if i + 1 < requests.len() {
                pipeline.submit(requests[i + 1].clone()).unwrap();
            }
            let frame = pipeline.receive().unwrap();
            let mut expected = vec![0; 4 * 12 * 12];
            let samples = direct.render_rgba8(&requests[i], &mut expected).unwrap();
            assert_eq!(
                (frame.width, frame.height, frame.samples),
                (12, 12, samples)
            );
            assert_eq!(frame.rgba8, expected, "frame {i}");
            pipeline.recycle(frame);
        }
    }

    #[test]
    fn misuse_and_render_errors_are_errors() {
        let mut pipeline = FramePipeline::new(source());
        assert_eq!(pipeline.receive(), Err(FrameError::NothingSubmitted));
        pipeline.submit(request(0.0, 4)).unwrap();
        pipeline.submit(request(0.0, 4)).unwrap();
        assert_eq!(pipeline.submit(request(0.0, 4)), Err(FrameError::Busy));
        pipeline.receive().unwrap();
        pipeline.receive().unwrap();
        let mut bad = request(0.0, 4);
        bad.weights.clear();
        pipeline.submit(bad).unwrap();
        assert!(matches!(pipeline.receive(), Err(FrameError::Render(_))));
    }
}
