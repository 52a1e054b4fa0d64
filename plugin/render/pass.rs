//! The WGSL pass, render-world side: the core crate's GPU renderer on Bevy's own device. Each
//! avatar asset is uploaded once (again after a hot reload); each avatar entity gets frame
//! state bound to its billboard image's texture; every update the newest job of each avatar is
//! encoded into the render graph's commands before the cameras' passes, so the main pass
//! samples the new frame in the same submission, with no copy to or from the host. Failures
//! are reported to the main world, which moves the avatar to the worker path; nothing panics.

use std::collections::HashMap;
use std::sync::Arc;

use bevy::app::App;
use bevy::asset::AssetId;
use bevy::core_pipeline::schedule::camera_driver;
use bevy::ecs::prelude::*;
use bevy::log::warn;
use bevy::render::render_asset::RenderAssets;
use bevy::render::render_resource::{TextureFormat, TextureId, TextureUsages};
use bevy::render::renderer::{
    RenderAdapterInfo, RenderContext, RenderDevice, RenderGraph, RenderGraphSystems, RenderQueue,
};
use bevy::render::texture::GpuImage;
use bevy::render::{ExtractSchedule, MainWorld, RenderApp};
use crossbeam_channel::Sender;
use nerf_avatar::asset::Avatar;
use nerf_avatar::render::Background;
use nerf_avatar::renderer::FrameRequest;
use nerf_avatar_wgpu::{FrameTarget, WgpuAvatar, WgpuFrame, WgpuRenderer, wgpu};

use super::wgsl::{WgslJob, WgslJobs, WgslReport, WgslReports, WgslSupport};
use crate::asset::NerfAvatarAsset;

/// An avatar asset on the render device.
struct UploadedAvatar {
    /// The avatar it was uploaded from (a hot reload brings a new one).
    source: Arc<Avatar>,
    gpu: Arc<WgpuAvatar>,
}

/// An avatar entity's frame state, bound to one texture.
struct AvatarTarget {
    texture: TextureId,
    avatar: Arc<WgpuAvatar>,
    frame: WgpuFrame,
}

/// The GPU renderer on the render device, the uploaded avatars and each avatar's target.
#[derive(Resource)]
pub struct WgslPass {
    renderer: WgpuRenderer,
    reports: Sender<WgslReport>,
    avatars: HashMap<AssetId<NerfAvatarAsset>, UploadedAvatar>,
    targets: HashMap<Entity, AvatarTarget>,
    /// The newest job of each avatar not yet rendered (its image may not be on the GPU yet).
    pending: HashMap<Entity, WgslJob>,
}

impl WgslPass {
    /// The GPU copy of the job's avatar, uploaded when new or reloaded.
    fn uploaded(
        &mut self,
        device: &wgpu::Device,
        job: &WgslJob,
    ) -> Result<Arc<WgpuAvatar>, String> {
        if let Some(uploaded) = self.avatars.get(&job.asset)
            && Arc::ptr_eq(&uploaded.source, &job.avatar)
        {
            return Ok(Arc::clone(&uploaded.gpu));
        }
        let gpu = Arc::new(
            self.renderer
                .upload(device, &job.avatar)
                .map_err(|error| format!("uploading the avatar: {error}"))?,
        );
        self.avatars.insert(
            job.asset,
            UploadedAvatar {
                source: Arc::clone(&job.avatar),
                gpu: Arc::clone(&gpu),
            },
        );
        Ok(gpu)
    }

    /// Makes sure the job's avatar has frame state on `image`: created when new or when the
    /// texture or avatar changed.
    fn prepare_target(
        &mut self,
        device: &wgpu::Device,
        job: &WgslJob,
        avatar: Arc<WgpuAvatar>,
        image: &GpuImage,
    ) -> Result<(), String> {
        let texture = image.texture.id();
        let reusable = self.targets.get(&job.entity).is_some_and(|target| {
            target.texture == texture && Arc::ptr_eq(&target.avatar, &avatar)
        });
        if !reusable {
            let view = image.texture.create_view(&wgpu::TextureViewDescriptor {
                label: Some("nerf-avatar frame storage view"),
                format: Some(TextureFormat::Rgba8Unorm),
                usage: Some(TextureUsages::STORAGE_BINDING),
                ..Default::default()
            });
            let target = FrameTarget::Texture {
                view: &view,
                width: job.intrinsics.width,
                height: job.intrinsics.height,
            };
            let frame = self
                .renderer
                .create_frame(device, &avatar, target)
                .map_err(|error| format!("creating the frame: {error}"))?;
            self.targets.insert(
                job.entity,
                AvatarTarget {
                    texture,
                    avatar,
                    frame,
                },
            );
        }
        Ok(())
    }

    /// Records `job` into `encoder`, rendering into `image`.
    fn encode(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        job: &WgslJob,
        image: &GpuImage,
    ) -> Result<(), String> {
        let avatar = self.uploaded(device, job)?;
        self.prepare_target(device, job, Arc::clone(&avatar), image)?;
        let target = self
            .targets
            .get(&job.entity)
            .ok_or_else(|| "the frame state vanished".to_string())?;
        let request = FrameRequest {
            weights: &job.weights,
            intrinsics: job.intrinsics,
            pose: job.pose,
            background: Background::Solid([0.0; 3]),
        };
        self.renderer
            .encode_frame(queue, encoder, &avatar, &target.frame, &request)
            .map_err(|error| format!("encoding the frame: {error}"))
    }
}

/// Takes the main world's jobs (the newest per avatar wins) and drops the state of released
/// avatars.
pub fn extract_wgsl_jobs(mut main_world: ResMut<MainWorld>, mut pass: ResMut<WgslPass>) {
    let Some(mut jobs) = main_world.get_resource_mut::<WgslJobs>() else {
        return;
    };
    let released = std::mem::take(&mut jobs.released);
    let queued = std::mem::take(&mut jobs.jobs);
    for entity in released {
        pass.targets.remove(&entity);
        pass.pending.remove(&entity);
    }
    for job in queued {
        pass.pending.insert(job.entity, job);
    }
    let pass = &mut *pass;
    let live: Vec<_> = pass.pending.values().map(|job| job.asset).collect();
    let in_use: Vec<_> = pass
        .targets
        .values()
        .map(|t| Arc::clone(&t.avatar))
        .collect();
    pass.avatars.retain(|asset, uploaded| {
        live.contains(asset) || in_use.iter().any(|gpu| Arc::ptr_eq(gpu, &uploaded.gpu))
    });
}

/// Whether `image` is the storage texture a job of `size` pixels renders into.
fn is_target(image: &GpuImage, size: u32) -> bool {
    let descriptor = &image.texture_descriptor;
    descriptor.usage.contains(TextureUsages::STORAGE_BINDING)
        && descriptor.format == TextureFormat::Rgba8Unorm
        && descriptor.size.width == size
        && descriptor.size.height == size
}

/// Encodes the pending jobs whose images are on the GPU, before the cameras' passes.
pub fn render_wgsl_frames(
    mut context: RenderContext,
    mut pass: ResMut<WgslPass>,
    images: Res<RenderAssets<GpuImage>>,
    device: Res<RenderDevice>,
    queue: Res<RenderQueue>,
) {
    let device = device.wgpu_device();
    let ready: Vec<Entity> = pass
        .pending
        .values()
        .filter(|job| {
            images
                .get(job.image)
                .is_some_and(|image| is_target(image, job.intrinsics.width))
        })
        .map(|job| job.entity)
        .collect();
    for entity in ready {
        let Some(job) = pass.pending.remove(&entity) else {
            continue;
        };
        let Some(image) = images.get(job.image) else {
            continue;
        };
        let outcome = pass.encode(device, &queue, context.command_encoder(), &job, image);
        let report = match outcome {
            Ok(()) => WgslReport::Rendered {
                entity,
                sequence: job.sequence,
            },
            Err(reason) => {
                pass.targets.remove(&entity);
                WgslReport::Failed { entity, reason }
            }
        };
        if pass.reports.send(report).is_err() {
            warn!("the main world no longer takes WGSL pass reports");
        }
    }
}

/// Compiles the GPU renderer on the render device (when the app has one), tells the main
/// world whether the WGSL path can run, and wires the pass into the render world.
pub fn setup_wgsl_pass(app: &mut App) {
    let Some(render_app) = app.get_sub_app_mut(RenderApp) else {
        return;
    };
    let world = render_app.world();
    let (Some(device), Some(info)) = (
        world.get_resource::<RenderDevice>(),
        world.get_resource::<RenderAdapterInfo>(),
    ) else {
        app.insert_resource(WgslSupport::Unavailable(
            "the renderer has no device".into(),
        ));
        return;
    };
    let adapter = format!("{} ({:?}, {:?})", info.name, info.device_type, info.backend);
    let hardware = info.device_type != wgpu::DeviceType::Cpu;
    let support = match WgpuRenderer::new(device.wgpu_device()) {
        Ok(renderer) => {
            let (reports, receiver) = crossbeam_channel::unbounded();
            render_app
                .insert_resource(WgslPass {
                    renderer,
                    reports,
                    avatars: HashMap::new(),
                    targets: HashMap::new(),
                    pending: HashMap::new(),
                })
                .add_systems(ExtractSchedule, extract_wgsl_jobs)
                .add_systems(
                    RenderGraph,
                    render_wgsl_frames
                        .in_set(RenderGraphSystems::Render)
                        .before(camera_driver),
                );
            app.insert_resource(WgslReports(receiver));
            WgslSupport::Available { adapter, hardware }
        }
        Err(error) => WgslSupport::Unavailable(format!("on {adapter}: {error}")),
    };
    app.insert_resource(support);
}
