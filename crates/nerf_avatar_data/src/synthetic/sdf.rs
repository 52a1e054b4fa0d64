//! Small vector helpers and signed distance primitives (metres) that the synthetic head is
//! built from. Distances are negative inside a shape.

/// A point or direction in head coordinates.
pub(crate) type Vec3 = [f32; 3];

pub(crate) fn add(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

pub(crate) fn sub(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub(crate) fn scale(a: Vec3, s: f32) -> Vec3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

pub(crate) fn dot(a: Vec3, b: Vec3) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(crate) fn length(a: Vec3) -> f32 {
    dot(a, a).sqrt()
}

pub(crate) fn normalize(a: Vec3) -> Vec3 {
    let n = length(a);
    if n > 0.0 { scale(a, 1.0 / n) } else { a }
}

/// Linear interpolation from `a` (t = 0) to `b` (t = 1).
pub(crate) fn mix(a: Vec3, b: Vec3, t: f32) -> Vec3 {
    [0, 1, 2].map(|i| a[i] + (b[i] - a[i]) * t)
}

/// Hermite step from 0 at `edge0` to 1 at `edge1` (either order).
pub(crate) fn smoothstep(edge0: f32, edge1: f32, x: f32) -> f32 {
    let t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Distance to a sphere.
pub(crate) fn sphere(p: Vec3, center: Vec3, radius: f32) -> f32 {
    length(sub(p, center)) - radius
}

/// A bound of the distance to an axis-aligned ellipsoid (exact on the axes, a slight
/// overestimate elsewhere for elongated ellipsoids).
pub(crate) fn ellipsoid(p: Vec3, center: Vec3, radii: Vec3) -> f32 {
    let q = sub(p, center);
    let k0 = length([q[0] / radii[0], q[1] / radii[1], q[2] / radii[2]]);
    let k1 = length([
        q[0] / (radii[0] * radii[0]),
        q[1] / (radii[1] * radii[1]),
        q[2] / (radii[2] * radii[2]),
    ]);
    if k1 > 0.0 {
        k0 * (k0 - 1.0) / k1
    } else {
        -radii[0].min(radii[1]).min(radii[2])
    }
}

/// Distance to a capsule around the segment `a`–`b`.
pub(crate) fn capsule(p: Vec3, a: Vec3, b: Vec3, radius: f32) -> f32 {
    let (pa, ba) = (sub(p, a), sub(b, a));
    let h = (dot(pa, ba) / dot(ba, ba)).clamp(0.0, 1.0);
    length(sub(pa, scale(ba, h))) - radius
}

/// Distance in the xy plane to the segment `a`–`b`, with a radius that goes linearly from
/// `radius_a` to `radius_b` along it (a flat stroke seen from the front).
pub(crate) fn stroke_xy(p: Vec3, a: [f32; 2], b: [f32; 2], radius_a: f32, radius_b: f32) -> f32 {
    let (pa, ba) = ([p[0] - a[0], p[1] - a[1]], [b[0] - a[0], b[1] - a[1]]);
    let h = ((pa[0] * ba[0] + pa[1] * ba[1]) / (ba[0] * ba[0] + ba[1] * ba[1])).clamp(0.0, 1.0);
    let (dx, dy) = (pa[0] - ba[0] * h, pa[1] - ba[1] * h);
    (dx * dx + dy * dy).sqrt() - (radius_a + (radius_b - radius_a) * h)
}

/// Polynomial smooth union with blend radius `k`.
pub(crate) fn smooth_union(a: f32, b: f32, k: f32) -> f32 {
    let h = (0.5 + 0.5 * (b - a) / k).clamp(0.0, 1.0);
    b + (a - b) * h - k * h * (1.0 - h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_are_zero_on_their_surface() {
        assert!(sphere([0.0, 0.0, 2.0], [0.0; 3], 2.0).abs() < 1e-6);
        assert!(ellipsoid([0.0, 3.0, 0.0], [0.0; 3], [1.0, 3.0, 2.0]).abs() < 1e-6);
        assert!(capsule([0.0, 0.5, 1.0], [0.0; 3], [0.0, 1.0, 0.0], 1.0).abs() < 1e-6);
        assert!(stroke_xy([0.0, 2.0, 5.0], [0.0, 0.0], [4.0, 0.0], 2.0, 1.0).abs() < 1e-6);
        assert!(smooth_union(1.0, 5.0, 0.1) == 1.0);
        assert!(smooth_union(1.0, 1.0, 0.1) < 1.0);
    }
}
