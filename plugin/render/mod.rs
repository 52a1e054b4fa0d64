//! The render bridge: every frame, each avatar whose expression, view or asset changed gets a
//! new frame from one of two paths, chosen once per avatar (see [`wgsl::choose_path`]):
//! - the worker path: a frame job (at most one in flight per avatar) goes to a
//!   [`RenderWorker`] thread, which renders it through the core crate's renderer interface;
//!   finished frames are taken back without waiting and the newest is shown on the avatar's
//!   billboard (see [`display`]);
//! - the WGSL path: a job goes to the render world, which renders the frame on the GPU
//!   straight into the billboard's texture before the main pass (see [`wgsl`], [`pass`]).
//!
//! The main schedule never blocks on a renderer.

#[cfg(feature = "cuda")]
pub mod cuda;
pub mod display;
pub mod pass;
pub mod view;
pub mod wgsl;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use bevy::app::{App, Plugin, PostUpdate};
use bevy::asset::Assets;
use bevy::camera::{Camera, Camera3d};
use bevy::ecs::prelude::*;
use bevy::log::{error, info};
use bevy::transform::TransformSystems;
use bevy::transform::components::GlobalTransform;
use nerf_avatar::camera::{Intrinsics, Pose};

use crate::asset::NerfAvatarAsset;
use crate::avatar::{BackendPreference, NerfAvatar};
use crate::expression::Expression;
pub use view::{BillboardView, billboard_view};
pub use wgsl::{FramePath, WgslSupport};
pub use worker::{FailedFrame, FinishedFrame, FrameJob, RenderWorker};

/// Marks the entity whose view the avatars are rendered from. Without one, the active 3D
/// camera of highest order is used (2D and UI cameras, such as a HUD's, never are).
#[derive(Component, Clone, Copy, Debug, Default)]
pub struct NerfAvatarViewer;

/// The render workers of this app, fastest first.
#[derive(Resource, Default)]
pub struct RenderWorkers(pub Vec<RenderWorker>);

impl RenderWorkers {
    /// The worker an avatar with `preference` uses: the fastest for `auto` and `wgpu`, the
    /// CPU's for `cpu`, and for `cuda` the CUDA worker, else the CPU's.
    pub fn for_preference(&self, preference: BackendPreference) -> Option<&RenderWorker> {
        match preference {
            BackendPreference::Auto | BackendPreference::Wgpu => self.0.first(),
            BackendPreference::Cpu => self.backend("cpu"),
            BackendPreference::Cuda => self.backend("cuda").or_else(|| self.backend("cpu")),
        }
    }

    /// The worker of `backend`, if it runs.
    pub fn backend(&self, backend: &str) -> Option<&RenderWorker> {
        self.0.iter().find(|worker| worker.backend() == backend)
    }
}

/// What a frame depends on: when it is unchanged, no new frame is needed.
#[derive(Clone, Debug, PartialEq)]
struct FrameKey {
    avatar: usize,
    weights: Vec<f32>,
    pose: Pose,
    intrinsics: Intrinsics,
}

/// A request on its way, with the view its frame will be shown at.
#[derive(Clone, Debug)]
struct InFlight {
    sequence: u64,
    key: FrameKey,
    view: BillboardView,
}

/// How an avatar's frames are going; added to every [`NerfAvatar`] entity.
#[derive(Component, Clone, Debug, Default)]
pub struct AvatarFrameStatus {
    /// Frames shown so far.
    pub frames_shown: u64,
    /// Whether the shown frame was rendered from the current expression, view and asset.
    pub current: bool,
    /// How long the renderer took for the shown frame.
    pub last_render_time: Option<Duration>,
    /// The view of the shown frame.
    pub shown_view: Option<BillboardView>,
    /// The path that renders the avatar's frames, once chosen (when its asset has loaded).
    pub path: Option<FramePath>,
    /// Frame jobs sent to worker threads so far.
    pub worker_requests: u64,
    /// Why the worker could not render the avatar's last job; no job is sent after one fails.
    pub render_error: Option<String>,
    next_sequence: u64,
    in_flight: Option<InFlight>,
    wanted: Option<FrameKey>,
    wanted_view: Option<BillboardView>,
    shown: Option<FrameKey>,
}

impl AvatarFrameStatus {
    /// Whether a frame has been shown and the avatar can be seen from the current view.
    pub fn has_view(&self) -> bool {
        self.frames_shown > 0 && self.wanted.is_some()
    }
}

/// A finished frame that arrived this update, with the view it was rendered for.
#[derive(Message, Clone, Debug)]
pub struct FrameArrived {
    /// The frame.
    pub frame: Arc<FinishedFrame>,
    /// The view it was rendered for.
    pub view: BillboardView,
}

/// The view the avatars are rendered from: the [`NerfAvatarViewer`], else the active 3D
/// camera of highest order.
fn viewer_transform(
    viewers: &Query<&GlobalTransform, With<NerfAvatarViewer>>,
    cameras: &Query<(&Camera, &GlobalTransform), With<Camera3d>>,
) -> Option<GlobalTransform> {
    if let Some(viewer) = viewers.iter().next() {
        return Some(*viewer);
    }
    cameras
        .iter()
        .filter(|(camera, _)| camera.is_active)
        .max_by_key(|(camera, _)| camera.order)
        .map(|(_, transform)| *transform)
}

/// Works out each avatar's wanted frame, chooses its path on its first frame, and sends a
/// frame request for each avatar on the worker path whose frame is out of date and has none
/// in flight (the WGSL path's jobs are queued by [`wgsl::queue_wgsl_frames`]).
pub fn prepare_frame_requests(
    mut avatars: Query<(
        Entity,
        &NerfAvatar,
        &Expression,
        &GlobalTransform,
        &mut AvatarFrameStatus,
    )>,
    viewers: Query<&GlobalTransform, With<NerfAvatarViewer>>,
    cameras: Query<(&Camera, &GlobalTransform), With<Camera3d>>,
    assets: Res<Assets<NerfAvatarAsset>>,
    workers: Res<RenderWorkers>,
    support: Option<Res<WgslSupport>>,
) {
    let Some(viewer) = viewer_transform(&viewers, &cameras) else {
        return;
    };
    for (entity, avatar, expression, transform, mut status) in &mut avatars {
        let Some(asset) = assets.get(&avatar.avatar) else {
            status.wanted = None;
            continue;
        };
        let path = *status.path.get_or_insert_with(|| {
            let cuda = workers.backend("cuda").is_some();
            let (path, reason) =
                wgsl::choose_path(avatar.settings.backend, support.as_deref(), cuda);
            wgsl::log_path(entity, path, &reason);
            path
        });
        let config = &asset.avatar.config;
        let Some(view) = billboard_view(
            &transform.affine(),
            &viewer.affine(),
            &config.head_box,
            config.near_distance,
            avatar.settings.frame_size(),
        ) else {
            status.wanted = None;
            status.wanted_view = None;
            continue;
        };
        let mut weights = expression.resolve(asset.avatar.blendshapes()).weights;
        asset.avatar.clamp_expression(&mut weights);
        let key = FrameKey {
            avatar: Arc::as_ptr(&asset.avatar) as usize,
            weights,
            pose: view.pose,
            intrinsics: view.intrinsics,
        };
        status.current = status.shown.as_ref() == Some(&key);
        if status.wanted.as_ref() != Some(&key) {
            status.wanted = Some(key.clone());
        }
        status.wanted_view = Some(view);
        if path == FramePath::Wgsl
            || status.current
            || status.in_flight.is_some()
            || status.render_error.is_some()
        {
            continue;
        }
        let Some(worker) = workers.for_preference(avatar.settings.backend) else {
            continue;
        };
        let sequence = status.next_sequence;
        let job = FrameJob {
            entity,
            sequence,
            avatar: Arc::clone(&asset.avatar),
            weights: key.weights.clone(),
            intrinsics: view.intrinsics,
            pose: view.pose,
        };
        if worker.submit(job).is_ok() {
            status.next_sequence += 1;
            status.worker_requests += 1;
            status.in_flight = Some(InFlight {
                sequence,
                key,
                view,
            });
        }
    }
}

/// Takes every finished frame without waiting and announces the newest of each avatar; a
/// failed frame is logged and stops the avatar's jobs.
pub fn receive_frames(
    workers: Res<RenderWorkers>,
    mut avatars: Query<&mut AvatarFrameStatus>,
    mut arrived: MessageWriter<FrameArrived>,
) {
    for worker in &workers.0 {
        while let Some(report) = worker.try_receive() {
            let (entity, sequence) = match &report {
                Ok(frame) => (frame.entity, frame.sequence),
                Err(failed) => (failed.entity, failed.sequence),
            };
            let Ok(mut status) = avatars.get_mut(entity) else {
                continue;
            };
            let Some(in_flight) = status.in_flight.take_if(|f| f.sequence == sequence) else {
                continue;
            };
            let frame = match report {
                Ok(frame) => frame,
                Err(failed) => {
                    error!(
                        "the {} renderer cannot render avatar {entity}: {}",
                        worker.backend(),
                        failed.error
                    );
                    status.render_error = Some(failed.error);
                    continue;
                }
            };
            status.frames_shown += 1;
            status.last_render_time = Some(frame.render_time);
            status.current = status.wanted.as_ref() == Some(&in_flight.key);
            status.shown = Some(in_flight.key);
            status.shown_view = Some(in_flight.view);
            arrived.write(FrameArrived {
                frame: Arc::new(frame),
                view: in_flight.view,
            });
        }
    }
}

/// Ordering of the bridge's systems in `PostUpdate` (after transforms are propagated).
#[derive(SystemSet, Clone, Debug, PartialEq, Eq, Hash)]
pub enum AvatarRenderSystems {
    /// Frame requests are sent and finished frames taken back.
    Exchange,
    /// Finished frames are shown.
    Display,
}

/// Starts the render workers and wires the bridge's systems.
pub struct NerfAvatarRenderPlugin;

impl Plugin for NerfAvatarRenderPlugin {
    fn build(&self, app: &mut App) {
        let mut workers = RenderWorkers::default();
        match RenderWorker::cpu() {
            Ok(worker) => {
                info!("the CPU avatar render worker started");
                workers.0.push(worker);
            }
            Err(error) => error!("could not start the CPU avatar render worker: {error}"),
        }
        #[cfg(feature = "cuda")]
        match cuda::cuda_worker() {
            Ok(worker) => {
                info!("the CUDA avatar render worker started");
                workers.0.insert(0, worker);
            }
            Err(reason) => info!("no CUDA avatar render worker: {reason}"),
        }
        app.insert_resource(workers)
            .add_message::<FrameArrived>()
            .register_required_components::<NerfAvatar, AvatarFrameStatus>()
            .configure_sets(
                PostUpdate,
                (AvatarRenderSystems::Exchange, AvatarRenderSystems::Display)
                    .chain()
                    .after(TransformSystems::Propagate),
            )
            .init_resource::<wgsl::WgslJobs>()
            .add_systems(
                PostUpdate,
                (
                    receive_frames,
                    wgsl::receive_wgsl_reports,
                    prepare_frame_requests,
                    wgsl::queue_wgsl_frames,
                    wgsl::release_removed_avatars,
                )
                    .chain()
                    .in_set(AvatarRenderSystems::Exchange),
            )
            .add_plugins(display::AvatarDisplayPlugin);
    }

    fn finish(&self, app: &mut App) {
        pass::setup_wgsl_pass(app);
    }
}
