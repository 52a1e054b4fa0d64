//! The head's geometry and materials: a signed distance field in head coordinates (metres,
//! +x the subject's left, +y up, +z out of the face) whose parts move with the expression
//! controls, and procedural albedo textures for every part.
//!
//! Expressions deform the face by mapping a posed point back to the rest face (mouth
//! corners, pucker, lower jaw), or move parts directly (eyelids, eyebrows, mouth opening,
//! lower lip and teeth). Every deformation is smooth and gentle enough that the field stays
//! within [`LIPSCHITZ`] of a true distance, which the sphere tracer relies on.

use super::noise::{fractal_noise, value_noise};
use super::sdf::{
    Vec3, add, capsule, dot, ellipsoid, length, mix, normalize, smooth_union, smoothstep, sphere,
    stroke_xy, sub,
};

/// The ARKit names of the controls, in the order of the expression vectors.
pub(crate) const CONTROL_NAMES: [&str; 7] = [
    "jawOpen",
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "mouthSmileLeft",
    "mouthSmileRight",
    "browInnerUp",
    "mouthPucker",
];

/// Upper bound of the field's gradient norm: the tracer divides distances by it.
pub(crate) const LIPSCHITZ: f32 = 2.0;

/// Centre of the cranium ellipsoid.
const HEAD_CENTER: Vec3 = [0.0, 0.01, 0.0];
/// Radii of the cranium ellipsoid (the face is its front).
const HEAD_RADII: Vec3 = [0.075, 0.10, 0.09];
/// Height of the line between the lips.
const MOUTH_Y: f32 = -0.045;
/// Depth of the lips' front at the midline.
const MOUTH_Z: f32 = 0.075;
/// How far the chin drops at jawOpen = 1.
const JAW_DROP: f32 = 0.018;
/// Radius of an eyeball.
const EYE_RADIUS: f32 = 0.0125;
/// Radius of the eyelid shell around the eyeball centre.
const LID_RADIUS: f32 = 0.0138;
/// Thickness of the hair over the cranium.
const HAIR_THICKNESS: f32 = 0.011;
/// A sphere around the lips, mouth opening and teeth under every expression, with a margin
/// of about 5 mm: the mouth parts are only evaluated within it.
const MOUTH_BOUND_CENTER: Vec3 = [0.0, MOUTH_Y - 0.007, 0.07];
/// Radius of the mouth's bounding sphere.
const MOUTH_BOUND_RADIUS: f32 = 0.045;
/// A sphere that contains every part under every expression: outside it the field is the
/// distance to the sphere, a lower bound of the distance to the head.
const BOUND_CENTER: Vec3 = [0.0, 0.005, 0.005];
/// Radius of the bounding sphere.
const BOUND_RADIUS: f32 = 0.13;

/// Centre of an eyeball; `side` is +1 for the subject's left eye, −1 for the right.
fn eye_center(side: f32) -> Vec3 {
    [side * 0.031, 0.022, 0.071]
}

/// The expression controls, each clamped to [0, 1].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Controls {
    jaw_open: f32,
    /// Left, right.
    blink: [f32; 2],
    /// Left, right.
    smile: [f32; 2],
    brow_inner_up: f32,
    pucker: f32,
}

impl Controls {
    /// Reads the controls from an expression vector in [`CONTROL_NAMES`] order; missing
    /// values are 0 and non-finite ones count as 0.
    pub(crate) fn from_expression(expression: &[f32]) -> Self {
        let get = |i: usize| {
            let v = expression.get(i).copied().unwrap_or(0.0);
            if v.is_finite() {
                v.clamp(0.0, 1.0)
            } else {
                0.0
            }
        };
        Self {
            jaw_open: get(0),
            blink: [get(1), get(2)],
            smile: [get(3), get(4)],
            brow_inner_up: get(5),
            pucker: get(6),
        }
    }

    fn jaw_drop(&self) -> f32 {
        self.jaw_open * JAW_DROP
    }

    /// The smile of the subject's left (`side` > 0) or right mouth corner.
    fn smile_of(&self, side: f32) -> f32 {
        if side > 0.0 {
            self.smile[0]
        } else {
            self.smile[1]
        }
    }

    /// The blink of the subject's left (`side` > 0) or right eye.
    fn blink_of(&self, side: f32) -> f32 {
        if side > 0.0 {
            self.blink[0]
        } else {
            self.blink[1]
        }
    }
}

/// The material of the part nearest to a point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    Skin,
    Lip,
    MouthInterior,
    Teeth,
    Eyeball,
    Eyelid,
    Brow,
    Hair,
}

/// The field at a point: signed distance, nearest part and the point on the rest face.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FieldPoint {
    pub(crate) distance: f32,
    pub(crate) part: Part,
    rest: Vec3,
}

/// The union of two candidates, keeping the nearer part.
fn union(a: (f32, Part), b: (f32, Part)) -> (f32, Part) {
    if b.0 < a.0 { b } else { a }
}

/// Maps a posed point to the rest face: mouth corners up and out with the smiles, lips
/// forward and narrower with the pucker, the lower face down with the jaw.
fn to_rest(p: Vec3, c: &Controls) -> Vec3 {
    let [mut x, mut y, mut z] = p;
    let side = if x >= 0.0 { 1.0 } else { -1.0 };
    let mouth_band = (-((p[1] - MOUTH_Y) / 0.02).powi(2)).exp() * smoothstep(0.0, 0.04, p[2]);
    let corner = smoothstep(0.004, 0.024, p[0].abs()) * (1.0 - smoothstep(0.03, 0.055, p[0].abs()));
    let smile = c.smile_of(side) * corner * mouth_band;
    y -= 0.007 * smile;
    x -= side * 0.004 * smile;
    let lips = (-(p[0] / 0.03).powi(2) - ((p[1] - MOUTH_Y) / 0.015).powi(2)).exp()
        * smoothstep(0.03, 0.06, p[2]);
    z -= 0.006 * c.pucker * lips;
    x *= 1.0 + 0.35 * c.pucker * lips;
    let lower_face =
        smoothstep(MOUTH_Y + 0.002, MOUTH_Y - 0.033, p[1]) * smoothstep(-0.03, 0.05, p[2]);
    y += c.jaw_drop() * lower_face;
    [x, y, z]
}

/// Skin (with nose, eye sockets and ears) on the rest face, and the plain cranium.
fn skin(q: Vec3) -> (f32, f32) {
    let cranium = ellipsoid(q, HEAD_CENTER, HEAD_RADII);
    let bridge = capsule(q, [0.0, 0.012, 0.084], [0.0, -0.018, 0.101], 0.008);
    let nostrils = ellipsoid(q, [0.0, -0.02, 0.092], [0.016, 0.008, 0.01]);
    let nose = smooth_union(bridge, nostrils, 0.006);
    let ears = ellipsoid(
        [q[0].abs(), q[1], q[2]],
        [0.074, 0.0, -0.008],
        [0.009, 0.024, 0.014],
    );
    let face = smooth_union(smooth_union(cranium, nose, 0.008), ears, 0.006);
    let socket = sphere(
        [q[0].abs(), q[1], q[2]],
        eye_center(1.0),
        EYE_RADIUS + 0.001,
    );
    (face.max(-socket), cranium)
}

/// The signed distance field and nearest part at a posed point.
pub(crate) fn field(p: Vec3, c: &Controls) -> FieldPoint {
    let bound = sphere(p, BOUND_CENTER, BOUND_RADIUS);
    if bound > 0.01 {
        return FieldPoint {
            distance: bound,
            part: Part::Skin,
            rest: p,
        };
    }
    let q = to_rest(p, c);
    let (skin_distance, cranium) = skin(q);
    let mut nearest = (skin_distance, Part::Skin);
    if sphere(p, MOUTH_BOUND_CENTER, MOUTH_BOUND_RADIUS) <= nearest.0.abs() {
        nearest = mouth(p, q, c, nearest);
    }
    let side = if p[0] >= 0.0 { 1.0 } else { -1.0 };
    let eye = eye_center(side);
    nearest = union(nearest, (sphere(p, eye, EYE_RADIUS), Part::Eyeball));
    nearest = union(nearest, (eyelid(p, eye, c.blink_of(side)), Part::Eyelid));
    nearest = union(
        nearest,
        (brow(p, side, c.brow_inner_up, skin_distance), Part::Brow),
    );
    nearest = union(nearest, (hair(q, cranium), Part::Hair));
    FieldPoint {
        distance: nearest.0,
        part: nearest.1,
        rest: q,
    }
}

/// Lips, mouth opening and teeth joined to `nearest`: the lips follow the rest face, the
/// opening (carved out of skin and lips) and the teeth are placed in the posed face.
fn mouth(p: Vec3, q: Vec3, c: &Controls, nearest: (f32, Part)) -> (f32, Part) {
    let drop = c.jaw_drop();
    let upper_lip = ellipsoid(
        q,
        [0.0, MOUTH_Y + 0.0045, MOUTH_Z - 0.002],
        [0.021, 0.0045, 0.006],
    );
    let lower_lip_rest = add(q, [0.0, drop * 0.1, 0.0]);
    let lower_lip = ellipsoid(
        lower_lip_rest,
        [0.0, MOUTH_Y - 0.005, MOUTH_Z - 0.002],
        [0.019, 0.005, 0.006],
    );
    let mut nearest = union(nearest, (upper_lip.min(lower_lip), Part::Lip));
    let widen = 1.0 + 0.12 * (c.smile[0] + c.smile[1]) - 0.3 * c.pucker;
    let opening = ellipsoid(
        p,
        [0.0, MOUTH_Y - 0.45 * drop, MOUTH_Z - 0.006],
        [0.019 * widen, 0.0015 + 0.6 * drop, 0.02],
    );
    if -opening > nearest.0 {
        nearest = (-opening, Part::MouthInterior);
    }
    let upper_teeth = ellipsoid(
        p,
        [0.0, MOUTH_Y + 0.0035, MOUTH_Z - 0.008],
        [0.016, 0.0035, 0.004],
    );
    let lower_teeth = ellipsoid(
        p,
        [0.0, MOUTH_Y - 0.0035 - drop, MOUTH_Z - 0.009],
        [0.014, 0.003, 0.004],
    );
    union(nearest, (upper_teeth.min(lower_teeth), Part::Teeth))
}

/// The elevation (radians above the eye's forward axis) of the upper lid's edge.
fn lid_edge_angle(blink: f32) -> f32 {
    (40.0 + (-75.0 - 40.0) * blink).to_radians()
}

/// Signed distance of a point from the lid edge's plane (positive: under the lid).
fn lid_plane(p: Vec3, eye: Vec3, blink: f32) -> f32 {
    let angle = lid_edge_angle(blink);
    let d = sub(p, eye);
    d[1] * angle.cos() - d[2] * angle.sin()
}

/// The upper eyelid: a shell over the eyeball above the lid edge.
fn eyelid(p: Vec3, eye: Vec3, blink: f32) -> f32 {
    sphere(p, eye, LID_RADIUS)
        .max(-lid_plane(p, eye, blink))
        .max(eye[2] - 0.004 - p[2])
}

/// An eyebrow: a stroke seen from the front, raised 1.5 mm off the skin; its inner end
/// rises with browInnerUp.
fn brow(p: Vec3, side: f32, brow_inner_up: f32, skin_distance: f32) -> f32 {
    let inner = [side * 0.012, 0.047 + 0.009 * brow_inner_up];
    let outer = [side * 0.05, 0.05 + 0.002 * brow_inner_up];
    let stroke = stroke_xy(p, inner, outer, 0.004, 0.0025);
    (skin_distance - 0.0015).max(stroke).max(0.02 - p[2])
}

/// The hair: the cranium thickened, above a hairline that is high at the front and low at
/// the back.
/// `cranium` is the cranium ellipsoid's distance at `q`.
fn hair(q: Vec3, cranium: f32) -> f32 {
    let shell = cranium - HAIR_THICKNESS;
    let above_hairline = 0.8 * q[1] - 0.6 * q[2] - 0.008;
    shell.max(-above_hairline)
}

/// The albedo of the field point `f` at the posed point `p`, in linear [0, 1] RGB.
pub(crate) fn albedo(f: &FieldPoint, p: Vec3, c: &Controls) -> Vec3 {
    let q = f.rest;
    match f.part {
        Part::Skin => skin_albedo(q),
        Part::Lip => {
            let lines = value_noise([q[0] * 2500.0, q[1] * 300.0, q[2] * 300.0], 11);
            mix([0.72, 0.26, 0.28], [0.58, 0.17, 0.2], 0.6 * lines)
        }
        Part::MouthInterior => {
            let depth = smoothstep(0.07, 0.05, p[2]);
            let tongue = smoothstep(MOUTH_Y - 0.004, MOUTH_Y - 0.012 - c.jaw_drop(), p[1]);
            let wall = mix([0.45, 0.1, 0.12], [0.75, 0.35, 0.36], tongue);
            mix(wall, [0.06, 0.02, 0.02], depth)
        }
        Part::Teeth => {
            let gap = ((p[0] / 0.0045).fract().abs() - 0.5).abs();
            mix(
                [0.93, 0.91, 0.84],
                [0.6, 0.55, 0.5],
                smoothstep(0.42, 0.5, gap),
            )
        }
        Part::Eyeball => eye_albedo(p),
        Part::Eyelid => {
            let side = if p[0] >= 0.0 { 1.0 } else { -1.0 };
            let edge = lid_plane(p, eye_center(side), c.blink_of(side));
            let lid = mix(skin_albedo(q), [0.7, 0.5, 0.42], 0.4);
            mix([0.08, 0.05, 0.04], lid, smoothstep(0.0005, 0.0012, edge))
        }
        Part::Brow => {
            let strands =
                0.5 + 0.5 * (q[1] * 3000.0 + 6.0 * value_noise(q.map(|v| v * 400.0), 21)).sin();
            mix([0.2, 0.13, 0.09], [0.33, 0.22, 0.15], strands)
        }
        Part::Hair => hair_albedo(q),
    }
}

fn skin_albedo(q: Vec3) -> Vec3 {
    let broad = fractal_noise(q, 60.0, 3, 1) - 0.5;
    let fine = value_noise(q.map(|v| v * 700.0), 5) - 0.5;
    let base = [0.86, 0.66, 0.54].map(|v| v * (1.0 + 0.12 * broad + 0.05 * fine));
    let cheek = [-1.0f32, 1.0]
        .iter()
        .map(|side| (-length(sub(q, [side * 0.045, -0.012, 0.07])).powi(2) / 0.02f32.powi(2)).exp())
        .sum::<f32>();
    let flushed = mix(base, [0.85, 0.5, 0.45], 0.35 * cheek);
    let freckle_area = (-((q[1] + 0.005) / 0.03).powi(2)).exp() * smoothstep(0.05, 0.08, q[2]);
    let spots = smoothstep(0.72, 0.8, value_noise(q.map(|v| v * 900.0), 7));
    mix(flushed, [0.58, 0.38, 0.27], 0.7 * spots * freckle_area)
}

fn eye_albedo(p: Vec3) -> Vec3 {
    let side = if p[0] >= 0.0 { 1.0 } else { -1.0 };
    let d = normalize(sub(p, eye_center(side)));
    let angle = d[2].clamp(-1.0, 1.0).acos();
    let around = d[1].atan2(d[0]);
    let sclera = mix(
        [0.95, 0.93, 0.9],
        [0.9, 0.7, 0.68],
        smoothstep(0.7, 1.3, angle),
    );
    let streaks = value_noise([around * 12.0, angle * 30.0, side], 31);
    let iris = mix([0.18, 0.38, 0.5], [0.35, 0.55, 0.45], streaks);
    let iris = mix(iris, [0.08, 0.12, 0.14], smoothstep(0.38, 0.47, angle));
    let pupil_and_iris = mix([0.02, 0.02, 0.03], iris, smoothstep(0.17, 0.2, angle));
    mix(pupil_and_iris, sclera, smoothstep(0.47, 0.5, angle))
}

fn hair_albedo(q: Vec3) -> Vec3 {
    let r = sub(q, HEAD_CENTER);
    let azimuth = r[0].atan2(r[2]);
    let wobble = fractal_noise(q, 40.0, 2, 41);
    let strands = 0.5 + 0.5 * (azimuth * 160.0 + 10.0 * wobble).sin();
    let tone = fractal_noise(q, 120.0, 2, 43);
    let base = mix(
        [0.2, 0.13, 0.08],
        [0.42, 0.29, 0.17],
        0.6 * strands + 0.4 * tone,
    );
    let sheen = smoothstep(0.6, 0.95, dot(normalize(r), normalize([0.3, 0.9, 0.3])));
    mix(base, [0.6, 0.48, 0.35], 0.4 * sheen * strands)
}

/// Points of the posed face that outline it (forehead, cheeks, chin, nose), for the face
/// box.
pub(crate) fn face_outline(c: &Controls) -> Vec<Vec3> {
    let mut points = Vec::new();
    for i in 0..9 {
        let y = -0.088 + 0.165 * i as f32 / 8.0;
        for j in 0..9 {
            let azimuth = (-70.0 + 140.0 * j as f32 / 8.0f32).to_radians();
            let v = (y - HEAD_CENTER[1]) / HEAD_RADII[1];
            let ring = (1.0 - v * v).max(0.0).sqrt();
            let drop = c.jaw_drop() * smoothstep(MOUTH_Y + 0.002, MOUTH_Y - 0.033, y);
            points.push([
                HEAD_RADII[0] * ring * azimuth.sin(),
                y - drop,
                HEAD_RADII[2] * ring * azimuth.cos(),
            ]);
        }
    }
    points.push([0.0, -0.018, 0.11]);
    points
}

/// Points of the posed lips and mouth opening, for the mouth box.
pub(crate) fn mouth_outline(c: &Controls) -> Vec<Vec3> {
    let widen = 1.0 + 0.12 * (c.smile[0] + c.smile[1]) - 0.3 * c.pucker;
    let corner = |side: f32| {
        [
            side * 0.024 * widen,
            MOUTH_Y + 0.007 * c.smile_of(side),
            MOUTH_Z - 0.006,
        ]
    };
    vec![
        corner(1.0),
        corner(-1.0),
        [0.0, MOUTH_Y + 0.011, MOUTH_Z + 0.002],
        [0.0, MOUTH_Y - 0.012 - c.jaw_drop(), MOUTH_Z + 0.002],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounding_sphere_contains_the_head_box_contents() {
        let c = Controls::from_expression(&[1.0; 7]);
        for p in face_outline(&c).into_iter().chain(mouth_outline(&c)) {
            assert!(sphere(p, BOUND_CENTER, BOUND_RADIUS) < 0.0, "{p:?}");
        }
        assert!(BOUND_CENTER.iter().all(|v| v.abs() + BOUND_RADIUS < 0.16));
    }

    #[test]
    fn the_face_front_is_solid_and_the_far_field_is_empty() {
        let c = Controls::default();
        assert!(field([0.0, 0.0, 0.05], &c).distance < 0.0);
        assert!(field([0.0, 0.0, 0.5], &c).distance > 0.3);
        assert_eq!(field([0.0, 0.12, 0.0], &c).part, Part::Hair);
    }
}
