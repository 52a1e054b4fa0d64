//! Showing frames: each avatar gets a billboard entity, an unlit square with the avatar's
//! `Image` (alpha premultiplied in linear light), placed at the view its newest frame was
//! rendered for. On the worker path the image's pixels come from the host; on the WGSL path
//! the image is a storage texture the render world writes (see [`super::wgsl`]). The
//! billboard is hidden until a frame arrives and when the avatar cannot be seen (its asset
//! failed to load, or the camera is inside the head box). Without the PBR plugin (headless
//! apps) only the image is kept up to date.

use bevy::app::{App, Plugin, PostUpdate};
use bevy::asset::{Assets, Handle, RenderAssetUsages};
use bevy::camera::visibility::Visibility;
use bevy::color::Color;
use bevy::ecs::prelude::*;
use bevy::image::Image;
use bevy::light::NotShadowCaster;
use bevy::material::AlphaMode;
use bevy::math::Vec3;
use bevy::math::primitives::Rectangle;
use bevy::mesh::{Mesh, Mesh3d};
use bevy::pbr::{MeshMaterial3d, StandardMaterial};
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use bevy::transform::components::{GlobalTransform, Transform};

use super::{AvatarFrameStatus, AvatarRenderSystems, BillboardView, FinishedFrame, FrameArrived};
use crate::avatar::NerfAvatar;

/// The avatar's frame and where it is shown.
#[derive(Component, Clone, Debug)]
pub struct AvatarDisplay {
    /// The newest frame (RGBA8, sRGB, alpha premultiplied in linear light).
    pub image: Handle<Image>,
    /// The billboard entity showing it, when the app renders 3D.
    pub billboard: Option<Entity>,
}

/// The square showing an avatar's frame.
#[derive(Component, Clone, Copy, Debug)]
pub struct AvatarBillboard {
    /// The avatar entity.
    pub avatar: Entity,
}

/// The frame as an image.
pub fn frame_image(frame: &FinishedFrame) -> Image {
    Image::new(
        Extent3d {
            width: frame.size,
            height: frame.size,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        frame.rgba.clone(),
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::default(),
    )
}

/// Puts each arrived frame into its avatar's image (creating the image and billboard on the
/// first one) and moves the billboard to the frame's view.
pub fn show_frames(
    mut commands: Commands,
    mut arrived: MessageReader<FrameArrived>,
    avatars: Query<Option<&AvatarDisplay>, With<NerfAvatar>>,
    mut billboards: Query<
        (&mut Transform, &mut GlobalTransform, &mut Visibility),
        With<AvatarBillboard>,
    >,
    mut images: Option<ResMut<Assets<Image>>>,
    mut meshes: Option<ResMut<Assets<Mesh>>>,
    mut materials: Option<ResMut<Assets<StandardMaterial>>>,
) {
    let Some(images) = images.as_deref_mut() else {
        return;
    };
    for FrameArrived { frame, view } in arrived.read() {
        let Ok(display) = avatars.get(frame.entity) else {
            continue;
        };
        let image = frame_image(frame);
        let placement = billboard_placement(view);
        match display {
            Some(display) => {
                if images.insert(display.image.id(), image).is_err() {
                    continue;
                }
                if let Some(billboard) = display.billboard
                    && let Ok((mut transform, mut global, mut visibility)) =
                        billboards.get_mut(billboard)
                {
                    // Set both, so the frame is shown at its view this very update.
                    *transform = placement;
                    *global = GlobalTransform::from(placement);
                    *visibility = Visibility::Inherited;
                }
            }
            None => {
                let image = images.add(image);
                let billboard = match (meshes.as_deref_mut(), materials.as_deref_mut()) {
                    (Some(meshes), Some(materials)) => Some(spawn_billboard(
                        &mut commands,
                        meshes,
                        materials,
                        frame.entity,
                        image.clone(),
                        placement,
                    )),
                    _ => None,
                };
                commands
                    .entity(frame.entity)
                    .insert(AvatarDisplay { image, billboard });
            }
        }
    }
}

/// Where the billboard of a frame rendered for `view` goes: a unit square scaled to the view.
pub fn billboard_placement(view: &BillboardView) -> Transform {
    Transform::from_translation(view.center)
        .with_rotation(view.rotation)
        .with_scale(Vec3::new(2.0 * view.half_size, 2.0 * view.half_size, 1.0))
}

/// Spawns the billboard of `avatar` showing `image` at `placement`.
pub fn spawn_billboard(
    commands: &mut Commands,
    meshes: &mut Assets<Mesh>,
    materials: &mut Assets<StandardMaterial>,
    avatar: Entity,
    image: Handle<Image>,
    placement: Transform,
) -> Entity {
    commands
        .spawn((
            AvatarBillboard { avatar },
            Mesh3d(meshes.add(Rectangle::new(1.0, 1.0))),
            MeshMaterial3d(materials.add(billboard_material(image))),
            placement,
            GlobalTransform::from(placement),
            NotShadowCaster,
        ))
        .id()
}

/// An unlit, double-sided material showing `image` (sRGB, alpha premultiplied in linear
/// light) over the scene: `α · colour + (1 − α) · scene` in linear space, filtered without
/// dark fringes.
pub fn billboard_material(image: Handle<Image>) -> StandardMaterial {
    StandardMaterial {
        base_color: Color::WHITE,
        base_color_texture: Some(image),
        unlit: true,
        alpha_mode: AlphaMode::Premultiplied,
        cull_mode: None,
        fog_enabled: false,
        ..Default::default()
    }
}

/// Hides billboards whose avatar has no up-to-date view (asset gone, camera inside the box)
/// or is hidden, and removes those whose avatar is gone.
#[expect(
    clippy::type_complexity,
    reason = "a query with a filter, spelled out as Bevy systems do"
)]
pub fn update_billboard_visibility(
    mut commands: Commands,
    mut billboards: Query<(Entity, &AvatarBillboard, &mut Visibility)>,
    avatars: Query<(&AvatarFrameStatus, &Visibility), (With<NerfAvatar>, Without<AvatarBillboard>)>,
) {
    for (billboard, owner, mut visibility) in &mut billboards {
        let Ok((status, avatar_visibility)) = avatars.get(owner.avatar) else {
            commands.entity(billboard).despawn();
            continue;
        };
        let wanted = if status.has_view() && *avatar_visibility != Visibility::Hidden {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        };
        visibility.set_if_neq(wanted);
    }
}

/// Wires the display systems after the frame exchange.
pub struct AvatarDisplayPlugin;

impl Plugin for AvatarDisplayPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(
            PostUpdate,
            (show_frames, update_billboard_visibility)
                .chain()
                .in_set(AvatarRenderSystems::Display),
        );
    }
}
