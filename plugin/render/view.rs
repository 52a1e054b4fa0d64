//! Where an avatar's frame goes and which rays it holds: the camera's pose in head
//! coordinates and a camera-aligned square (the billboard) through the head box centre that
//! covers the box as the camera sees it. The frame's pinhole camera is the scene camera
//! cropped to that square, so the billboard shows exactly what the camera would see of the
//! head, in perspective, at any distance and angle.
//!
//! Bevy cameras and the core's poses share the OpenGL convention (+x right, +y up, looking
//! along −z), so the camera's axes carry over unchanged. The avatar's transform should have a
//! uniform scale: the head is rendered in its own units and the billboard scaled along.

use bevy::math::{Affine3A, Quat, Vec3};
use nerf_avatar::camera::{Intrinsics, Pose};
use nerf_avatar::config::HeadBox;

/// The camera must be this much farther from the box centre than the box's bounding sphere.
const CLEARANCE: f32 = 1.05;

/// A frame's view and the billboard that shows it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BillboardView {
    /// The camera-to-head pose the frame is rendered from.
    pub pose: Pose,
    /// The cropped pinhole camera of the frame.
    pub intrinsics: Intrinsics,
    /// World position of the billboard's centre (the head box centre).
    pub center: Vec3,
    /// World orientation of the billboard (the camera's).
    pub rotation: Quat,
    /// Half the billboard's edge, in world units.
    pub half_size: f32,
}

/// The view of the head box of the avatar at `avatar` (its global transform) from the camera
/// at `camera`, for a square frame of `size` pixels; `None` when the camera is inside or too
/// close to the box, or a transform is degenerate.
pub fn billboard_view(
    avatar: &Affine3A,
    camera: &Affine3A,
    head_box: &HeadBox,
    near_distance: f32,
    size: u32,
) -> Option<BillboardView> {
    if avatar.matrix3.determinant().abs() <= f32::EPSILON {
        return None;
    }
    let head_from_world = avatar.inverse();
    let origin = head_from_world.transform_point3(camera.translation.into());
    let axis = |v: Vec3| {
        head_from_world
            .transform_vector3(camera.transform_vector3(v))
            .normalize()
    };
    let (right, up, back) = (axis(Vec3::X), axis(Vec3::Y), axis(Vec3::Z));
    let center = Vec3::from(head_box.center);
    let offset = center - origin;
    let (x0, y0, depth) = (offset.dot(right), offset.dot(up), -offset.dot(back));
    let radius = head_box.half_extent * 3f32.sqrt();
    if !(depth.is_finite() && depth > radius * CLEARANCE && depth - radius > near_distance) {
        return None;
    }
    // Every point of the bounding sphere projects onto the plane through the centre within
    // this distance of the centre, along each axis.
    let half = radius * (depth + x0.abs().max(y0.abs())) / (depth - radius);
    let pixels = size as f32;
    let focal = pixels * depth / (2.0 * half);
    let intrinsics = Intrinsics {
        width: size,
        height: size,
        fx: focal,
        fy: focal,
        cx: pixels * (half - x0) / (2.0 * half),
        cy: pixels * (half + y0) / (2.0 * half),
    };
    let mut m = [[0.0; 4]; 4];
    for r in 0..3 {
        m[r] = [right[r], up[r], back[r], origin[r]];
    }
    m[3] = [0.0, 0.0, 0.0, 1.0];
    let world_center = avatar.transform_point3(center);
    let scale = avatar.transform_vector3(right).length();
    let (_, rotation, _) = camera.to_scale_rotation_translation();
    Some(BillboardView {
        pose: Pose(m),
        intrinsics,
        center: world_center,
        rotation,
        half_size: half * scale,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nerf_avatar::camera::Ray;

    fn look(eye: Vec3, target: Vec3) -> Affine3A {
        Affine3A::look_at_rh(eye, target, Vec3::Y).inverse()
    }

    #[test]
    fn frame_pixels_are_the_camera_rays_through_the_billboard() {
        let avatar = Affine3A::from_scale_rotation_translation(
            Vec3::splat(2.0),
            Quat::from_rotation_y(0.4),
            Vec3::new(1.0, 0.5, -3.0),
        );
        let head_box = HeadBox {
            center: [0.0, 0.02, 0.01],
            half_extent: 0.16,
        };
        let camera = look(Vec3::new(2.5, 1.2, 1.0), Vec3::new(0.8, 0.6, -3.0));
        let view = billboard_view(&avatar, &camera, &head_box, 0.05, 64).unwrap();
        assert!(view.pose.is_rigid(1e-4));
        // The ray of a frame pixel, taken to world space, passes through the matching point
        // of the billboard and starts at the camera.
        for (u, v) in [(0.0, 0.0), (64.0, 0.0), (10.0, 50.0), (32.0, 32.0)] {
            let ray = Ray::through_point(&view.intrinsics, &view.pose, u, v);
            let origin = avatar.transform_point3(Vec3::from(ray.origin));
            let direction = avatar
                .transform_vector3(Vec3::from(ray.direction))
                .normalize();
            assert!(origin.distance(camera.translation.into()) < 1e-4);
            let local = Vec3::new(
                (u / 64.0 * 2.0 - 1.0) * view.half_size,
                (1.0 - v / 64.0 * 2.0) * view.half_size,
                0.0,
            );
            let point = view.center + view.rotation * local;
            let towards = (point - origin).normalize();
            assert!(towards.dot(direction) > 1.0 - 1e-5, "{u},{v}");
        }
        // The corners of the head box project inside the frame.
        for corner in 0..8 {
            let sign = |bit: u32| if corner & (1 << bit) == 0 { -1.0 } else { 1.0 };
            let p = Vec3::from(head_box.center)
                + head_box.half_extent * Vec3::new(sign(0), sign(1), sign(2));
            let pose = Affine3A::from_cols_array_2d(&[
                [view.pose.0[0][0], view.pose.0[1][0], view.pose.0[2][0]],
                [view.pose.0[0][1], view.pose.0[1][1], view.pose.0[2][1]],
                [view.pose.0[0][2], view.pose.0[1][2], view.pose.0[2][2]],
                [view.pose.0[0][3], view.pose.0[1][3], view.pose.0[2][3]],
            ]);
            let c = pose.inverse().transform_point3(p);
            let u = view.intrinsics.cx + view.intrinsics.fx * c.x / -c.z;
            let v = view.intrinsics.cy - view.intrinsics.fy * c.y / -c.z;
            assert!(
                (0.0..=64.0).contains(&u) && (0.0..=64.0).contains(&v),
                "{u},{v}"
            );
        }
    }

    #[test]
    fn camera_inside_the_box_has_no_view() {
        let camera = look(Vec3::new(0.0, 0.0, 0.1), Vec3::ZERO);
        let view = billboard_view(&Affine3A::IDENTITY, &camera, &HeadBox::default(), 0.05, 64);
        assert_eq!(view, None);
    }
}
