//! The authors' released dataset format: detection, conversion to this project's
//! conventions (intrinsics, poses, masks, split, expressions) and every validation error
//! naming the file and the frame.

use std::fs;
use std::path::Path;

use image::{Rgb, RgbImage};
use nerf_avatar::HeadBox;
use nerf_avatar::camera::{Intrinsics, Pose, Ray};
use nerf_avatar_data::released::{
    self, COEFFICIENTS, HEAD_HALF_EXTENT, HEAD_PARSING_COLOR, POSE_SCALE, TEST_FRAMES,
};
use nerf_avatar_data::{Dataset, DatasetError, DatasetFormat, Problem, Split, TRANSFORMS_FILE};
use serde_json::{Value, json};

const WIDTH: u32 = 32;
const HEIGHT: u32 = 24;
const FX: f32 = 40.0;
const FY: f32 = 42.0;
const CX: f32 = 16.0;
const CY: f32 = 12.0;
/// Camera distance from the head in the released (unscaled) units.
const DISTANCE: f32 = 1.0;
/// The frames' ids, in file order (not sorted, so that the split must sort them).
const IMG_IDS: [u64; 5] = [30, 10, 40, 0, 20];

/// A frame of the released format: id, released camera-to-world matrix, coefficients.
struct ReleasedFrame {
    img_id: u64,
    matrix: [[f32; 4]; 4],
    exp_ori: Vec<f32>,
}

/// Coefficient `k` of the frame at position `index`.
fn coefficient(index: usize, k: usize) -> f32 {
    ((index * 7 + k * 3) % 11) as f32 / 10.0
}

/// A camera orbiting the head at [`DISTANCE`]; the released world is +y up, +z out of the
/// face with an OpenGL camera, like this project's before scaling.
fn orbit(yaw: f32, pitch: f32) -> [[f32; 4]; 4] {
    Pose::orbit([0.0; 3], DISTANCE, yaw, pitch).0
}

fn frames(img_ids: &[u64]) -> Vec<ReleasedFrame> {
    img_ids
        .iter()
        .enumerate()
        .map(|(index, &img_id)| ReleasedFrame {
            img_id,
            matrix: orbit(10.0 * index as f32 - 20.0, 5.0 - 3.0 * index as f32),
            exp_ori: (0..COEFFICIENTS).map(|k| coefficient(index, k)).collect(),
        })
        .collect()
}

/// The parsing map of a frame: the head colour in a block whose size depends on the frame,
/// near misses of the colour around it, torso red and white background.
fn parsing_map(index: usize) -> RgbImage {
    RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
        if x < 4 + index as u32 && y < 6 {
            Rgb(HEAD_PARSING_COLOR)
        } else if y < 6 {
            Rgb([0, 0, 254])
        } else if y < 12 {
            Rgb([1, 0, 255])
        } else if y < 18 {
            Rgb([255, 0, 0])
        } else {
            Rgb([255, 255, 255])
        }
    })
}

fn write_transforms(folder: &Path, frames: &[ReleasedFrame]) {
    let frames: Vec<Value> = frames
        .iter()
        .map(|f| {
            json!({
                "img_id": f.img_id,
                "transform_matrix": f.matrix,
                "exp_ori": f.exp_ori,
                "aud_id": f.img_id,
            })
        })
        .collect();
    let transforms = json!({
        "h": HEIGHT, "w": WIDTH, "fx": FX, "fy": FY, "cx": CX, "cy": CY, "frames": frames,
    });
    fs::write(
        folder.join(TRANSFORMS_FILE),
        serde_json::to_string_pretty(&transforms).unwrap(),
    )
    .unwrap();
}

/// Writes a released dataset of `frames` into `folder`: JPEG frames of one shade each,
/// PNG parsing maps and a JPEG background.
fn write_released(folder: &Path, frames: &[ReleasedFrame]) {
    fs::create_dir_all(folder.join("head_imgs")).unwrap();
    fs::create_dir_all(folder.join("parsing")).unwrap();
    write_transforms(folder, frames);
    for (index, frame) in frames.iter().enumerate() {
        let shade = 40 * (index % 6) as u8;
        RgbImage::from_pixel(WIDTH, HEIGHT, Rgb([shade, 128, 200]))
            .save(folder.join(released::image_path(frame.img_id)))
            .unwrap();
        parsing_map(index)
            .save(folder.join(released::parsing_path(frame.img_id)))
            .unwrap();
    }
    RgbImage::from_pixel(WIDTH, HEIGHT, Rgb([250, 250, 250]))
        .save(folder.join(released::BACKGROUND_FILE))
        .unwrap();
}

/// A fresh released dataset of [`IMG_IDS`] in a temporary folder.
fn dataset() -> tempfile::TempDir {
    let folder = tempfile::tempdir().unwrap();
    write_released(folder.path(), &frames(&IMG_IDS));
    folder
}

/// A released dataset of [`IMG_IDS`] whose frames `edit` changed first.
fn dataset_with(edit: impl FnOnce(&mut Vec<ReleasedFrame>)) -> tempfile::TempDir {
    let folder = tempfile::tempdir().unwrap();
    let mut frames = frames(&IMG_IDS);
    edit(&mut frames);
    write_released(folder.path(), &frames);
    folder
}

/// Loads and expects an error whose message names `names`.
fn load_error(folder: &Path, names: &[&str]) -> DatasetError {
    let error = Dataset::load(folder).expect_err("the dataset is broken");
    let message = error.to_string();
    for name in names {
        assert!(message.contains(name), "`{message}` does not name {name}");
    }
    error
}

/// The problem of an `Invalid` error at `frame`.
fn problem_at(error: DatasetError, expected_frame: usize) -> Problem {
    match error {
        DatasetError::Invalid {
            frame: Some(frame),
            problem,
            ..
        } if frame == expected_frame => problem,
        other => panic!("expected an invalid value at frame {expected_frame}, got {other:?}"),
    }
}

fn near(a: [f32; 3], b: [f32; 3], tolerance: f32) -> bool {
    (0..3).all(|i| (a[i] - b[i]).abs() <= tolerance)
}

/// torch-ngp's world axes from this project's: (x, y, z) ↦ (y, z, x).
fn to_ngp_world(p: [f32; 3]) -> [f32; 3] {
    [p[1], p[2], p[0]]
}

/// The released code's ray of pixel (u, v): `nerf_matrix_to_ngp(matrix, 0.33)` and an
/// OpenCV camera through the image point (u, v), written out from its description.
fn torch_ngp_ray(matrix: &[[f32; 4]; 4], u: u32, v: u32) -> Ray {
    let m = matrix;
    let ngp_row = |r: usize| [m[r][0], -m[r][1], -m[r][2], m[r][3] * POSE_SCALE];
    let ngp = [ngp_row(1), ngp_row(2), ngp_row(0)];
    let camera = [(u as f32 - CX) / FX, (v as f32 - CY) / FY, 1.0];
    let direction = ngp.map(|row| row[0] * camera[0] + row[1] * camera[1] + row[2] * camera[2]);
    let length = direction.iter().map(|d| d * d).sum::<f32>().sqrt();
    Ray {
        origin: ngp.map(|row| row[3]),
        direction: direction.map(|d| d / length),
    }
}

#[test]
fn loads_intrinsics_names_split_and_ranges() {
    let folder = dataset();
    let dataset = Dataset::load(folder.path()).unwrap();
    assert_eq!(dataset.format, DatasetFormat::Released);
    let t = &dataset.transforms;
    assert_eq!(
        t.intrinsics(),
        Intrinsics {
            width: WIDTH,
            height: HEIGHT,
            fx: FX,
            fy: FY,
            cx: CX + 0.5,
            cy: CY + 0.5,
        }
    );
    assert_eq!(
        t.head_box,
        HeadBox {
            center: [0.0; 3],
            half_extent: HEAD_HALF_EXTENT
        }
    );
    assert_eq!(t.blendshapes.len(), COEFFICIENTS);
    assert_eq!(t.blendshapes[0], "exp_00");
    assert_eq!(t.blendshapes[45], "exp_45");
    assert_eq!(t.background, "bc.jpg");
    // Five frames: all but the smallest id (0, at position 3) are held out.
    let splits: Vec<Split> = t.frames.iter().map(|f| f.split).collect();
    let expected: Vec<Split> = IMG_IDS
        .iter()
        .map(|&id| if id == 0 { Split::Train } else { Split::Test })
        .collect();
    assert_eq!(splits, expected);
    for (index, frame) in t.frames.iter().enumerate() {
        assert_eq!(frame.source_frame, IMG_IDS[index]);
        assert_eq!(frame.image, format!("head_imgs/{}.jpg", IMG_IDS[index]));
        assert_eq!(frame.mask, format!("parsing/{}.png", IMG_IDS[index]));
        assert_eq!(frame.expression.len(), COEFFICIENTS);
        assert_eq!(frame.face_box, [0.0, 0.0, WIDTH as f32, HEIGHT as f32]);
        assert_eq!(frame.mouth_box, frame.face_box);
    }
    let training: Vec<usize> = (0..IMG_IDS.len())
        .filter(|&i| t.frames[i].split == Split::Train)
        .collect();
    for k in 0..COEFFICIENTS {
        let values = || training.iter().map(|&i| coefficient(i, k));
        let min = values().fold(f32::INFINITY, f32::min);
        let max = values().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!((t.expression_min[k], t.expression_max[k]), (min, max));
    }
}

#[test]
fn reads_jpeg_frames_parsing_masks_and_background() {
    let folder = dataset();
    let dataset = Dataset::load(folder.path()).unwrap();
    for index in 0..IMG_IDS.len() {
        let image = dataset.read_image(index).unwrap();
        assert_eq!(image.dimensions(), (WIDTH, HEIGHT));
        let [r, g, b] = image.get_pixel(10, 10).0;
        let shade = 40 * index as i32;
        // JPEG is lossy: the flat colour comes back within a few levels.
        assert!((r as i32 - shade).abs() <= 4, "frame {index}: red {r}");
        assert!((g as i32 - 128).abs() <= 4 && (b as i32 - 200).abs() <= 4);
        let mask = dataset.read_mask(index).unwrap();
        let parsing = parsing_map(index);
        for (x, y, value) in mask.enumerate_pixels() {
            let head = parsing.get_pixel(x, y).0 == HEAD_PARSING_COLOR;
            assert_eq!(value.0[0], if head { 255 } else { 0 }, "({x}, {y})");
        }
        let head_pixels = mask.pixels().filter(|p| p.0[0] == 255).count();
        assert_eq!(head_pixels, (4 + index) * 6);
    }
    let background = dataset.read_background().unwrap();
    assert!(background.pixels().all(|p| p.0.iter().all(|&c| c >= 245)));
}

#[test]
fn converted_cameras_look_at_the_head() {
    let folder = dataset();
    let dataset = Dataset::load(folder.path()).unwrap();
    let t = &dataset.transforms;
    let intrinsics = t.intrinsics();
    for (index, frame) in t.frames.iter().enumerate() {
        let pose = frame.pose();
        assert!(pose.is_rigid(1e-5));
        let distance = pose.origin().iter().map(|c| c * c).sum::<f32>().sqrt();
        assert!(
            (distance - DISTANCE * POSE_SCALE).abs() < 1e-5,
            "frame {index}"
        );
        // The pixel (cx, cy) of the released file is the principal point: its ray passes
        // through the origin, which its cameras look at.
        let ray = Ray::through_pixel(&intrinsics, &pose, CX as u32, CY as u32);
        let closest = ray.at(distance);
        assert!(near(closest, [0.0; 3], 1e-5), "frame {index}: {closest:?}");
        assert!(ray.intersect_box(&t.head_box, 0.0).is_some());
    }
    // The released code's own novel-view camera (identity rotation, on +z) is a frontal
    // camera in this project's head frame: +y up, looking along −z at the face.
    let mut frontal = [[0.0; 4]; 4];
    for (i, row) in frontal.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    frontal[2][3] = 0.349;
    let pose = released::pose_to_head(frontal);
    let orbit = Pose::orbit([0.0; 3], 0.349 * POSE_SCALE, 0.0, 0.0);
    for r in 0..4 {
        for c in 0..4 {
            assert!(
                (pose.0[r][c] - orbit.0[r][c]).abs() < 1e-6,
                "{pose:?} {orbit:?}"
            );
        }
    }
}

#[test]
fn rays_match_torch_ngp_up_to_the_world_permutation() {
    let folder = dataset();
    let dataset = Dataset::load(folder.path()).unwrap();
    let t = &dataset.transforms;
    let intrinsics = t.intrinsics();
    let original = frames(&IMG_IDS);
    for (frame, source) in t.frames.iter().zip(&original) {
        for (u, v) in [(0, 0), (5, 17), (16, 12), (31, 23)] {
            let ours = Ray::through_pixel(&intrinsics, &frame.pose(), u, v);
            let theirs = torch_ngp_ray(&source.matrix, u, v);
            assert!(near(to_ngp_world(ours.origin), theirs.origin, 1e-6));
            assert!(near(to_ngp_world(ours.direction), theirs.direction, 1e-6));
            // The head box is a cube about the origin, so the permutation maps it onto
            // itself and the ray meets it at the same distances.
            let (ours_in, theirs_in) = (
                ours.intersect_box(&t.head_box, 0.0),
                theirs.intersect_box(&t.head_box, 0.0),
            );
            assert_eq!(ours_in.is_some(), theirs_in.is_some());
            if let (Some(a), Some(b)) = (ours_in, theirs_in) {
                assert!((a.0 - b.0).abs() < 1e-6 && (a.1 - b.1).abs() < 1e-6);
            }
        }
    }
}

#[test]
fn long_sets_hold_out_the_last_500_ids() {
    let folder = tempfile::tempdir().unwrap();
    let count = TEST_FRAMES as u64 + 3;
    // Ids in descending file order: the three smallest are the last three frames.
    let img_ids: Vec<u64> = (0..count).rev().map(|i| 2 * i).collect();
    write_released(folder.path(), &frames(&img_ids));
    let dataset = Dataset::load(folder.path()).unwrap();
    let t = &dataset.transforms;
    let test = t.frames.iter().filter(|f| f.split == Split::Test).count();
    assert_eq!(test, TEST_FRAMES);
    let training: Vec<u64> = t
        .frames
        .iter()
        .filter(|f| f.split == Split::Train)
        .map(|f| f.source_frame)
        .collect();
    assert_eq!(training, [4, 2, 0]);
    assert_eq!(released::test_frame_count(1), 0);
    assert_eq!(released::test_frame_count(2), 1);
    assert_eq!(released::test_frame_count(10_000), TEST_FRAMES);
}

#[test]
fn a_single_frame_is_for_training() {
    let folder = tempfile::tempdir().unwrap();
    write_released(folder.path(), &frames(&[7]));
    let dataset = Dataset::load(folder.path()).unwrap();
    assert_eq!(dataset.transforms.frames[0].split, Split::Train);
}

#[test]
fn a_missing_image_names_the_image_and_frame() {
    let folder = dataset();
    fs::remove_file(folder.path().join("head_imgs/40.jpg")).unwrap();
    let error = load_error(
        folder.path(),
        &[TRANSFORMS_FILE, "head_imgs/40.jpg", "frame 2"],
    );
    assert!(matches!(
        error,
        DatasetError::MissingImage { frame: Some(2), .. }
    ));
}

#[test]
fn images_of_the_wrong_size_name_the_image_and_frame() {
    let folder = dataset();
    RgbImage::new(WIDTH, HEIGHT + 2)
        .save(folder.path().join("parsing/10.png"))
        .unwrap();
    let error = load_error(folder.path(), &["parsing/10.png", "frame 1"]);
    assert!(matches!(
        error,
        DatasetError::ImageSize {
            frame: Some(1),
            found_height: 26,
            ..
        }
    ));

    let folder = dataset();
    RgbImage::new(WIDTH - 1, HEIGHT)
        .save(folder.path().join("head_imgs/0.jpg"))
        .unwrap();
    let error = load_error(folder.path(), &["head_imgs/0.jpg", "frame 3"]);
    assert!(matches!(
        error,
        DatasetError::ImageSize { frame: Some(3), .. }
    ));

    let folder = dataset();
    RgbImage::new(WIDTH, HEIGHT - 1)
        .save(folder.path().join("bc.jpg"))
        .unwrap();
    let error = load_error(folder.path(), &["bc.jpg"]);
    assert!(matches!(error, DatasetError::ImageSize { frame: None, .. }));
}

#[test]
fn python_nan_and_infinity_name_the_frame() {
    let marker = 12345.5;
    for (token, field, frame) in [
        ("NaN", "expression", 1),
        ("Infinity", "transform_matrix", 3),
        ("-Infinity", "transform_matrix", 4),
    ] {
        let folder = dataset_with(|frames| {
            if field == "expression" {
                frames[frame].exp_ori[5] = marker;
            } else {
                frames[frame].matrix[1][3] = marker;
            }
        });
        let file = folder.path().join(TRANSFORMS_FILE);
        let text = fs::read_to_string(&file).unwrap();
        assert_eq!(text.matches("12345.5").count(), 1);
        fs::write(&file, text.replace("12345.5", token)).unwrap();
        let label = format!("frame {frame}");
        let error = load_error(folder.path(), &[TRANSFORMS_FILE, &label, field]);
        assert_eq!(
            problem_at(error, frame),
            Problem::NonFinite(match field {
                "expression" => "expression",
                _ => "transform_matrix",
            })
        );
    }
}

#[test]
fn forty_five_coefficients_name_the_frame() {
    let folder = dataset_with(|frames| {
        frames[2].exp_ori.pop();
    });
    let error = load_error(folder.path(), &[TRANSFORMS_FILE, "frame 2", "expected 46"]);
    assert_eq!(
        problem_at(error, 2),
        Problem::Length {
            field: "expression",
            expected: COEFFICIENTS,
            found: COEFFICIENTS - 1,
        }
    );
}

#[test]
fn a_non_rigid_pose_names_the_frame() {
    let folder = dataset_with(|frames| {
        for row in &mut frames[4].matrix[..3] {
            row[0] *= 1.1;
        }
    });
    let error = load_error(folder.path(), &[TRANSFORMS_FILE, "frame 4", "rigid"]);
    assert_eq!(problem_at(error, 4), Problem::NonRigidPose);
}

#[test]
fn a_camera_inside_the_head_box_names_the_frame() {
    // 0.15 released units are 0.0495 after scaling: inside the ±0.06 box.
    let folder = dataset_with(|frames| {
        frames[0].matrix = Pose::orbit([0.0; 3], 0.15, 10.0, 0.0).0;
    });
    let error = load_error(folder.path(), &[TRANSFORMS_FILE, "frame 0", "inside"]);
    assert!(matches!(
        problem_at(error, 0),
        Problem::CameraInsideHeadBox { .. }
    ));
}

#[test]
fn a_camera_looking_away_names_the_frame() {
    // In front of the face, but looking along +z, away from the head.
    let folder = dataset_with(|frames| {
        frames[1].matrix = Pose::look_at([0.0, 0.0, 1.0], [0.0, 0.0, 2.0], [0.0, 1.0, 0.0]).0;
    });
    let error = load_error(
        folder.path(),
        &[TRANSFORMS_FILE, "frame 1", "principal ray"],
    );
    assert_eq!(problem_at(error, 1), Problem::HeadOutOfView);
}

#[test]
fn a_duplicate_img_id_names_both_frames() {
    let folder = dataset_with(|frames| frames[4].img_id = frames[1].img_id);
    let error = load_error(
        folder.path(),
        &[TRANSFORMS_FILE, "frame 4", "img_id 10", "frame 1"],
    );
    assert_eq!(
        problem_at(error, 4),
        Problem::DuplicateImageId {
            img_id: 10,
            first_frame: 1
        }
    );
}

#[test]
fn no_frames_and_unknown_formats_are_rejected() {
    let folder = dataset();
    write_transforms(folder.path(), &[]);
    let error = load_error(folder.path(), &[TRANSFORMS_FILE, "no frames"]);
    assert!(matches!(
        error,
        DatasetError::Invalid {
            frame: None,
            problem: Problem::NoFrames,
            ..
        }
    ));

    fs::write(
        folder.path().join(TRANSFORMS_FILE),
        r#"{"frames": [{"file_path": "a.png"}]}"#,
    )
    .unwrap();
    let error = load_error(folder.path(), &[TRANSFORMS_FILE, "unknown dataset format"]);
    assert!(matches!(error, DatasetError::UnknownFormat { .. }));
}
