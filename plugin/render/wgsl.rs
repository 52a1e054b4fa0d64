//! The WGSL path, main-world side: which path renders each avatar's frames and why, and the
//! frame jobs of the avatars on the WGSL path. An avatar on that path gets a storage-capable
//! image on its billboard; whenever its frame is out of date the billboard is moved to the new
//! view and a job (expression, camera, image) is queued, which the render world (see
//! [`super::pass`]) renders straight into the image's texture before the main pass of the
//! same frame. The render world reports each job back as rendered or failed; a failure moves
//! the avatar to the worker path.

use std::sync::Arc;

use bevy::asset::{AssetId, Assets, Handle, RenderAssetUsages};
use bevy::ecs::prelude::*;
use bevy::image::Image;
use bevy::log::{info, warn};
use bevy::mesh::Mesh;
use bevy::pbr::StandardMaterial;
use bevy::render::render_resource::{
    Extent3d, TextureDimension, TextureFormat, TextureUsages, TextureViewDescriptor,
};
use bevy::transform::components::{GlobalTransform, Transform};
use crossbeam_channel::Receiver;
use nerf_avatar::asset::Avatar;
use nerf_avatar::camera::{Intrinsics, Pose};

use super::display::{AvatarBillboard, AvatarDisplay, billboard_placement, spawn_billboard};
use super::{AvatarFrameStatus, InFlight};
use crate::asset::NerfAvatarAsset;
use crate::avatar::{BackendPreference, NerfAvatar};

/// Which path renders an avatar's frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FramePath {
    /// A frame source on a worker thread (the CPU renderer), shown from host pixels.
    Worker,
    /// The WGSL pass in the render world, straight into the billboard's texture.
    Wgsl,
}

/// Whether the render world's device runs the WGSL renderer; set when the plugin finishes
/// building (absent in apps without a renderer).
#[derive(Resource, Clone, Debug, PartialEq)]
pub enum WgslSupport {
    /// The shaders compiled on the render device.
    Available {
        /// The adapter in words.
        adapter: String,
        /// Whether it is a hardware GPU (not a CPU rasteriser such as lavapipe or llvmpipe).
        hardware: bool,
    },
    /// The WGSL path cannot run, and why.
    Unavailable(String),
}

/// The path an avatar with `preference` takes on `support`, with a CUDA render worker or
/// not, and why.
pub fn choose_path(
    preference: BackendPreference,
    support: Option<&WgslSupport>,
    cuda: bool,
) -> (FramePath, String) {
    let unavailable = |reason: &str| format!("the WGSL pass cannot run: {reason}");
    match (preference, support) {
        (BackendPreference::Cpu, _) => (FramePath::Worker, "the CPU backend was asked for".into()),
        (BackendPreference::Cuda, _) if cuda => {
            (FramePath::Worker, "the CUDA backend was asked for".into())
        }
        (BackendPreference::Cuda, _) => (
            FramePath::Worker,
            "the CUDA backend was asked for, but no CUDA device works (or the `cuda` feature \
             is off): the CPU renderer"
                .into(),
        ),
        (BackendPreference::Auto, _) if cuda => (
            FramePath::Worker,
            "the CUDA renderer (a CUDA device works)".into(),
        ),
        (_, None) => (
            FramePath::Worker,
            unavailable("this app has no render device"),
        ),
        (_, Some(WgslSupport::Unavailable(reason))) => (FramePath::Worker, unavailable(reason)),
        (BackendPreference::Wgpu, Some(WgslSupport::Available { adapter, .. })) => (
            FramePath::Wgsl,
            format!("the wgpu backend was asked for; WGSL pass on {adapter}"),
        ),
        (BackendPreference::Auto, Some(WgslSupport::Available { adapter, hardware })) => {
            if *hardware {
                (
                    FramePath::Wgsl,
                    format!("WGSL pass on the hardware adapter {adapter}"),
                )
            } else {
                (
                    FramePath::Worker,
                    format!(
                        "{adapter} is a CPU rasteriser, where the CPU renderer is faster than the WGSL pass"
                    ),
                )
            }
        }
    }
}

/// One frame for the render world to render.
#[derive(Clone, Debug)]
pub struct WgslJob {
    /// The avatar entity (main world).
    pub entity: Entity,
    /// The request's sequence number (see [`AvatarFrameStatus`]).
    pub sequence: u64,
    /// The avatar asset, whose GPU copy the render world keeps.
    pub asset: AssetId<NerfAvatarAsset>,
    /// The avatar itself (a new one after a hot reload).
    pub avatar: Arc<Avatar>,
    /// The billboard's image, whose texture the frame is rendered into.
    pub image: AssetId<Image>,
    /// One weight per blendshape, clamped to the avatar's range.
    pub weights: Vec<f32>,
    /// The frame's camera.
    pub intrinsics: Intrinsics,
    /// The camera-to-head pose.
    pub pose: Pose,
}

/// Jobs queued this update and avatars whose render-world state can be dropped; the render
/// world takes both at extraction.
#[derive(Resource, Default, Debug)]
pub struct WgslJobs {
    /// Newest last.
    pub jobs: Vec<WgslJob>,
    /// Avatars gone or moved to the worker path.
    pub released: Vec<Entity>,
}

/// What the render world did with a job.
#[derive(Clone, Debug)]
pub enum WgslReport {
    /// The frame was recorded into this frame's commands, before the main pass.
    Rendered {
        /// The avatar entity.
        entity: Entity,
        /// The job's sequence number.
        sequence: u64,
    },
    /// The WGSL path failed for this avatar.
    Failed {
        /// The avatar entity.
        entity: Entity,
        /// Why.
        reason: String,
    },
}

/// The render world's reports, read in the main world.
#[derive(Resource)]
pub struct WgslReports(pub Receiver<WgslReport>);

/// An image the WGSL pass can write (`Rgba8Unorm` storage) and the billboard samples as sRGB,
/// like the worker path's images. It has no pixels on the host.
pub fn storage_image(size: u32) -> Image {
    let mut image = Image::new_uninit(
        Extent3d {
            width: size,
            height: size,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        TextureFormat::Rgba8Unorm,
        RenderAssetUsages::default(),
    );
    image.texture_descriptor.usage |= TextureUsages::STORAGE_BINDING;
    image.texture_descriptor.view_formats = &[TextureFormat::Rgba8UnormSrgb];
    // The sampled view: sRGB formats cannot be storage views, so it is for sampling only.
    image.texture_view_descriptor = Some(TextureViewDescriptor {
        format: Some(TextureFormat::Rgba8UnormSrgb),
        usage: Some(TextureUsages::TEXTURE_BINDING),
        ..Default::default()
    });
    image
}

/// Whether `image` is a storage image of `size` pixels.
fn is_storage_image(image: &Image, size: u32) -> bool {
    image
        .texture_descriptor
        .usage
        .contains(TextureUsages::STORAGE_BINDING)
        && image.width() == size
        && image.height() == size
}

/// The avatar's display image, made a storage image of `size` pixels (created, with its
/// billboard, on the first frame).
fn ensure_storage_display(
    commands: &mut Commands,
    entity: Entity,
    display: Option<&AvatarDisplay>,
    images: &mut Assets<Image>,
    billboard_assets: Option<(&mut Assets<Mesh>, &mut Assets<StandardMaterial>)>,
    placement: Transform,
    size: u32,
) -> Option<(Handle<Image>, Option<Entity>)> {
    if let Some(display) = display {
        let current = images
            .get(display.image.id())
            .is_some_and(|image| is_storage_image(image, size));
        if !current
            && images
                .insert(display.image.id(), storage_image(size))
                .is_err()
        {
            return None;
        }
        return Some((display.image.clone(), display.billboard));
    }
    let image = images.add(storage_image(size));
    let billboard = billboard_assets.map(|(meshes, materials)| {
        spawn_billboard(
            commands,
            meshes,
            materials,
            entity,
            image.clone(),
            placement,
        )
    });
    commands.entity(entity).insert(AvatarDisplay {
        image: image.clone(),
        billboard,
    });
    Some((image, billboard))
}

/// Queues a job for each avatar on the WGSL path whose wanted frame is not yet queued, and
/// moves its billboard to the job's view (the frame is rendered in the same update).
#[expect(
    clippy::too_many_arguments,
    reason = "a system: avatars, billboards, assets and the job queue"
)]
pub fn queue_wgsl_frames(
    mut commands: Commands,
    mut avatars: Query<(
        Entity,
        &NerfAvatar,
        &mut AvatarFrameStatus,
        Option<&AvatarDisplay>,
    )>,
    mut billboards: Query<(&mut Transform, &mut GlobalTransform), With<AvatarBillboard>>,
    assets: Res<Assets<NerfAvatarAsset>>,
    mut jobs: ResMut<WgslJobs>,
    mut images: Option<ResMut<Assets<Image>>>,
    mut meshes: Option<ResMut<Assets<Mesh>>>,
    mut materials: Option<ResMut<Assets<StandardMaterial>>>,
) {
    let Some(images) = images.as_deref_mut() else {
        return;
    };
    for (entity, avatar, mut status, display) in &mut avatars {
        if status.path != Some(FramePath::Wgsl) || status.current {
            continue;
        }
        let (Some(key), Some(view)) = (status.wanted.clone(), status.wanted_view) else {
            continue;
        };
        if status.in_flight.as_ref().is_some_and(|f| f.key == key) {
            continue;
        }
        let Some(asset) = assets.get(&avatar.avatar) else {
            continue;
        };
        let placement = billboard_placement(&view);
        let Some((image, billboard)) = ensure_storage_display(
            &mut commands,
            entity,
            display,
            images,
            meshes.as_deref_mut().zip(materials.as_deref_mut()),
            placement,
            view.intrinsics.width,
        ) else {
            continue;
        };
        if let Some(billboard) = billboard
            && let Ok((mut transform, mut global)) = billboards.get_mut(billboard)
        {
            *transform = placement;
            *global = GlobalTransform::from(placement);
        }
        let sequence = status.next_sequence;
        status.next_sequence += 1;
        jobs.jobs.push(WgslJob {
            entity,
            sequence,
            asset: avatar.avatar.id(),
            avatar: Arc::clone(&asset.avatar),
            image: image.id(),
            weights: key.weights.clone(),
            intrinsics: view.intrinsics,
            pose: view.pose,
        });
        status.in_flight = Some(InFlight {
            sequence,
            key,
            view,
        });
    }
}

/// Takes the render world's reports: a rendered job is the avatar's shown frame; a failure
/// moves the avatar to the worker path.
pub fn receive_wgsl_reports(
    reports: Option<Res<WgslReports>>,
    mut avatars: Query<&mut AvatarFrameStatus>,
) {
    let Some(reports) = reports else {
        return;
    };
    while let Ok(report) = reports.0.try_recv() {
        match report {
            WgslReport::Rendered { entity, sequence } => {
                let Ok(mut status) = avatars.get_mut(entity) else {
                    continue;
                };
                status.frames_shown += 1;
                status.last_render_time = None;
                match status.in_flight.take_if(|f| f.sequence == sequence) {
                    Some(in_flight) => {
                        status.current = status.wanted.as_ref() == Some(&in_flight.key);
                        status.shown = Some(in_flight.key);
                        status.shown_view = Some(in_flight.view);
                    }
                    // An older job: a newer one is on its way.
                    None => status.current = false,
                }
            }
            WgslReport::Failed { entity, reason } => {
                let Ok(mut status) = avatars.get_mut(entity) else {
                    continue;
                };
                warn!(
                    "avatar {entity}: the WGSL pass failed ({reason}); its frames are rendered by the CPU renderer on a worker thread from now on"
                );
                status.path = Some(FramePath::Worker);
                status.in_flight = None;
                status.current = false;
            }
        }
    }
}

/// Releases the render-world state of avatars that are gone.
pub fn release_removed_avatars(
    mut removed: RemovedComponents<NerfAvatar>,
    mut jobs: ResMut<WgslJobs>,
) {
    jobs.released.extend(removed.read());
}

/// Logs the path an avatar takes and why (once per avatar).
pub fn log_path(entity: Entity, path: FramePath, reason: &str) {
    match path {
        FramePath::Wgsl => info!("avatar {entity}: frames rendered by the WGSL pass ({reason})"),
        FramePath::Worker => {
            info!(
                "avatar {entity}: frames rendered by the CPU renderer on a worker thread ({reason})"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn available(hardware: bool) -> WgslSupport {
        WgslSupport::Available {
            adapter: "test adapter".into(),
            hardware,
        }
    }

    #[test]
    fn auto_takes_the_wgsl_pass_only_on_hardware() {
        let path =
            |preference, support: Option<&WgslSupport>| choose_path(preference, support, false).0;
        assert_eq!(
            path(BackendPreference::Auto, Some(&available(true))),
            FramePath::Wgsl
        );
        assert_eq!(
            path(BackendPreference::Auto, Some(&available(false))),
            FramePath::Worker
        );
        assert_eq!(
            path(BackendPreference::Wgpu, Some(&available(false))),
            FramePath::Wgsl
        );
        assert_eq!(
            path(BackendPreference::Cpu, Some(&available(true))),
            FramePath::Worker
        );
        let broken = WgslSupport::Unavailable("no shaders".into());
        let (chosen, reason) = choose_path(BackendPreference::Wgpu, Some(&broken), false);
        assert_eq!(chosen, FramePath::Worker);
        assert!(reason.contains("no shaders"), "{reason}");
        assert_eq!(path(BackendPreference::Auto, None), FramePath::Worker);
    }

    #[test]
    fn a_cuda_worker_takes_auto_and_cuda_and_cuda_without_one_falls_back() {
        let hardware = available(true);
        for preference in [BackendPreference::Auto, BackendPreference::Cuda] {
            let (chosen, reason) = choose_path(preference, Some(&hardware), true);
            assert_eq!(chosen, FramePath::Worker);
            assert!(reason.contains("CUDA"), "{reason}");
        }
        let (chosen, reason) = choose_path(BackendPreference::Cuda, Some(&hardware), false);
        assert_eq!(chosen, FramePath::Worker);
        assert!(reason.contains("CPU renderer"), "{reason}");
        assert_eq!(
            choose_path(BackendPreference::Wgpu, Some(&hardware), true).0,
            FramePath::Wgsl
        );
    }

    #[test]
    fn storage_images_are_writable_and_sampled_as_srgb() {
        let image = storage_image(64);
        assert!(is_storage_image(&image, 64));
        assert!(!is_storage_image(&image, 32));
        assert_eq!(image.texture_descriptor.format, TextureFormat::Rgba8Unorm);
        assert_eq!(
            image.texture_view_descriptor.unwrap().format,
            Some(TextureFormat::Rgba8UnormSrgb)
        );
        assert!(image.data.is_none());
    }
}
