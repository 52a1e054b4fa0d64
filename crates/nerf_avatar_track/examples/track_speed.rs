//! Tracking speed on the first frames of a video: decodes them first, then times
//! `FaceTracker::track` alone (detector on the first frame, tracking after), like
//! `tools/face_reference.py --bench` times MediaPipe's VIDEO mode. Prints one JSON line.
//!
//! `cargo run -p nerf_avatar_track --example track_speed -- VIDEO [FRAMES]`

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use nerf_avatar_track::video::VideoDecoder;
use nerf_avatar_track::{FaceLandmarker, FaceTracker};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let video = PathBuf::from(args.next().context("usage: track_speed VIDEO [FRAMES]")?);
    let count: usize = args
        .next()
        .map_or(Ok(500), |n| n.parse())
        .context("FRAMES must be a number")?;
    let mut source = VideoDecoder::open(&video, Some(count))?;
    let mut frames = Vec::new();
    while let Some((_, frame)) = source.next_frame()? {
        frames.push(frame);
    }
    let landmarker = FaceLandmarker::new()?;
    // Warm-up on a separate tracker, not timed.
    if let Some(first) = frames.first() {
        landmarker.detect(first)?;
    }
    let mut tracker = FaceTracker::new(landmarker);
    let started = Instant::now();
    let mut faces = 0;
    for frame in &frames {
        faces += usize::from(tracker.track(frame)?.is_some());
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"pipeline\": \"nerf_avatar_track (landmarks on convnet, the rest on tract-onnx)\", \"frames\": {}, \"faces\": {faces}, \"seconds\": {seconds:.3}, \"frames_per_second\": {:.2}, \"width\": {}, \"height\": {}}}",
        frames.len(),
        frames.len() as f64 / seconds,
        source.width(),
        source.height()
    );
    Ok(())
}
