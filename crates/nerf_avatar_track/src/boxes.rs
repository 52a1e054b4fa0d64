//! Face and mouth boxes from the landmarks, and the landmark index lists they use.

/// The face oval, in order around the face (MediaPipe's `FACEMESH_FACE_OVAL`), starting at
/// the top of the forehead and going down the subject's left side (image right).
pub const FACE_OVAL: [usize; 36] = [
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
    148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
];

/// The outer lip contour.
pub const OUTER_LIPS: [usize; 20] = [
    61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185,
];

/// Margin added around the lips on every side, as a fraction of the mouth's width.
const MOUTH_MARGIN: f32 = 0.25;

/// The bounding box `[x0, y0, x1, y1]` of `points`, grown by `margin` times its width on
/// every side and clamped to a `width`×`height` image.
pub fn bounding_box(
    points: impl IntoIterator<Item = [f32; 2]>,
    margin: f32,
    width: u32,
    height: u32,
) -> [f32; 4] {
    let mut b = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
    for [x, y] in points {
        b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
    }
    let pad = (b[2] - b[0]).max(0.0) * margin;
    let (w, h) = (width as f32, height as f32);
    let x0 = (b[0] - pad).clamp(0.0, w);
    let y0 = (b[1] - pad).clamp(0.0, h);
    [x0, y0, (b[2] + pad).clamp(x0, w), (b[3] + pad).clamp(y0, h)]
}

/// The face box: every landmark's bounding box.
pub fn face_box(points: &[[f32; 2]], width: u32, height: u32) -> [f32; 4] {
    bounding_box(points.iter().copied(), 0.0, width, height)
}

/// The mouth box: the outer lips' bounding box with a margin.
pub fn mouth_box(points: &[[f32; 2]], width: u32, height: u32) -> [f32; 4] {
    bounding_box(
        OUTER_LIPS.iter().map(|&i| points[i]),
        MOUTH_MARGIN,
        width,
        height,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_grow_by_the_margin_and_stay_inside_the_image() {
        let b = bounding_box([[10.0, 20.0], [30.0, 25.0]], 0.25, 100, 100);
        assert_eq!(b, [5.0, 15.0, 35.0, 30.0]);
        let clamped = bounding_box([[-5.0, 90.0], [50.0, 120.0]], 0.0, 100, 100);
        assert_eq!(clamped, [0.0, 90.0, 50.0, 100.0]);
    }
}
