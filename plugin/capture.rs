//! Render N frames, save a screenshot and exit: how the examples run without a display (in
//! CI, under `xvfb-run`, or for a first check). `--frames N --screenshot PATH` on the command
//! line, or the `NERF_AVATAR_FRAMES` and `NERF_AVATAR_SCREENSHOT` environment variables, turn
//! it on. After N frames virtual time is paused (animations and orbits stop), the plugin waits
//! until every avatar shows the frame of its current expression and view, then captures the
//! primary window. An avatar whose file fails to load ends the app at once with an error
//! naming the file: its frames would never come.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bevy::app::{App, AppExit, Last, Plugin};
use bevy::asset::{AssetServer, LoadState};
use bevy::ecs::prelude::*;
use bevy::log::{error, info, warn};
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use bevy::time::{Time, Virtual};

use crate::avatar::NerfAvatar;
use crate::render::AvatarFrameStatus;

/// How long to wait for avatars to catch up before capturing anyway.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(300);

/// What to capture.
#[derive(Clone, Debug, PartialEq)]
pub struct CaptureSettings {
    /// Frames to run before capturing.
    pub frames: u32,
    /// Where to write the screenshot (PNG).
    pub screenshot: PathBuf,
}

/// Why the capture options are wrong.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CaptureArgsError {
    /// A flag lacks its value.
    #[error("{0} needs a value")]
    MissingValue(&'static str),
    /// The frame count is not a positive integer.
    #[error("the frame count must be a positive integer, got `{0}`")]
    BadFrames(String),
    /// Only one of the two options is given.
    #[error(
        "give both --frames N and --screenshot PATH (or NERF_AVATAR_FRAMES and NERF_AVATAR_SCREENSHOT)"
    )]
    Incomplete,
}

impl CaptureSettings {
    /// The settings from command-line `args` (other arguments are ignored), else from the
    /// environment; `None` when neither asks for a capture.
    pub fn from_args_or_env(args: &[String]) -> Result<Option<Self>, CaptureArgsError> {
        let mut frames = None;
        let mut screenshot = None;
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            match arg.as_str() {
                "--frames" => {
                    frames = Some(
                        iter.next()
                            .ok_or(CaptureArgsError::MissingValue("--frames"))?
                            .clone(),
                    );
                }
                "--screenshot" => {
                    screenshot = Some(
                        iter.next()
                            .ok_or(CaptureArgsError::MissingValue("--screenshot"))?
                            .clone(),
                    );
                }
                _ => {}
            }
        }
        let frames = frames.or_else(|| std::env::var("NERF_AVATAR_FRAMES").ok());
        let screenshot = screenshot.or_else(|| std::env::var("NERF_AVATAR_SCREENSHOT").ok());
        match (frames, screenshot) {
            (None, None) => Ok(None),
            (Some(frames), Some(screenshot)) => {
                let count = frames
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(CaptureArgsError::BadFrames(frames))?;
                Ok(Some(Self {
                    frames: count,
                    screenshot: screenshot.into(),
                }))
            }
            _ => Err(CaptureArgsError::Incomplete),
        }
    }
}

/// Where a capture is.
#[derive(Clone, Debug, Default)]
enum Phase {
    /// Counting frames.
    #[default]
    Running,
    /// Virtual time is paused; waiting for the avatars' frames since the given instant.
    Settling(Instant),
    /// The screenshot is requested; the outcome arrives in the shared slot.
    Requested,
}

/// The capture in progress.
#[derive(Resource, Debug)]
struct Capture {
    settings: CaptureSettings,
    frames: u32,
    phase: Phase,
    started: Option<Instant>,
    saved: Arc<Mutex<Option<Result<(), String>>>>,
}

/// Counts frames, pauses, waits for the avatars, captures, and exits once the file is saved.
fn advance_capture(
    mut commands: Commands,
    mut capture: ResMut<Capture>,
    mut time: ResMut<Time<Virtual>>,
    avatars: Query<&AvatarFrameStatus>,
    mut exit: MessageWriter<AppExit>,
) {
    capture.frames += 1;
    let started = *capture.started.get_or_insert_with(Instant::now);
    match capture.phase {
        Phase::Running => {
            if capture.frames >= capture.settings.frames {
                let seconds = started.elapsed().as_secs_f64();
                let avatar_frames: u64 = avatars.iter().map(|status| status.frames_shown).sum();
                let render_ms: Vec<String> = avatars
                    .iter()
                    .filter_map(|status| status.last_render_time)
                    .map(|time| format!("{:.0} ms", time.as_secs_f64() * 1e3))
                    .collect();
                info!(
                    "capture: {} app frames in {seconds:.1} s ({:.1} fps); {avatar_frames} avatar frames shown ({:.2} per second); last avatar render {}",
                    capture.frames,
                    f64::from(capture.frames) / seconds,
                    avatar_frames as f64 / seconds,
                    render_ms.join(", ")
                );
                time.pause();
                capture.phase = Phase::Settling(Instant::now());
            }
        }
        Phase::Settling(since) => {
            let settled = avatars.iter().all(|status| status.current);
            let timed_out = since.elapsed() > SETTLE_TIMEOUT;
            if timed_out {
                warn!("capture: avatars did not catch up in {SETTLE_TIMEOUT:?}; capturing anyway");
            }
            if settled || timed_out {
                let path = capture.settings.screenshot.clone();
                let slot = Arc::clone(&capture.saved);
                commands.spawn(Screenshot::primary_window()).observe(
                    move |captured: On<ScreenshotCaptured>| {
                        let outcome = save_screenshot(&captured.image, &path);
                        if let Ok(mut slot) = slot.lock() {
                            *slot = Some(outcome);
                        }
                    },
                );
                capture.phase = Phase::Requested;
            }
        }
        Phase::Requested => {
            let outcome = capture.saved.lock().ok().and_then(|mut slot| slot.take());
            match outcome {
                Some(Ok(())) => {
                    info!(
                        "capture: saved {} after {} frames",
                        capture.settings.screenshot.display(),
                        capture.frames
                    );
                    exit.write(AppExit::Success);
                }
                Some(Err(message)) => {
                    error!("capture: {message}");
                    exit.write(AppExit::error());
                }
                None => {}
            }
        }
    }
}

/// Exits with an error as soon as an avatar's file has failed to load (the asset server's
/// error names the file and the reason).
fn exit_on_failed_avatars(
    avatars: Query<&NerfAvatar>,
    assets: Res<AssetServer>,
    mut exit: MessageWriter<AppExit>,
) {
    for avatar in &avatars {
        if let Some(LoadState::Failed(error)) = assets.get_load_state(&avatar.avatar) {
            error!("capture: an avatar failed to load, so its frames cannot come: {error}");
            exit.write(AppExit::error());
        }
    }
}

/// Writes a captured image as an RGB PNG.
pub fn save_screenshot(image: &bevy::image::Image, path: &std::path::Path) -> Result<(), String> {
    let dynamic = image
        .clone()
        .try_into_dynamic()
        .map_err(|e| format!("the screenshot cannot be converted: {e}"))?;
    dynamic
        .to_rgb8()
        .save(path)
        .map_err(|e| format!("could not write the screenshot {}: {e}", path.display()))
}

/// Captures the primary window after the set number of frames and exits.
pub struct CapturePlugin(pub CaptureSettings);

impl Plugin for CapturePlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(Capture {
            settings: self.0.clone(),
            frames: 0,
            phase: Phase::default(),
            started: None,
            saved: Arc::default(),
        })
        .add_systems(Last, (exit_on_failed_avatars, advance_capture));
    }
}
