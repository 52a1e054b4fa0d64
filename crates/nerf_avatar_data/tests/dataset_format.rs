//! The dataset format: a write → load round trip, every validation error naming the file
//! and the frame, and paths that would leave the dataset folder refused.

use std::fs;
use std::path::Path;

use image::{GrayImage, Luma, Rgb, RgbImage};
use nerf_avatar::{HeadBox, Intrinsics};
use nerf_avatar_data::synthetic::SyntheticHead;
use nerf_avatar_data::synthetic::motion::talking_head_video;
use nerf_avatar_data::{
    Dataset, DatasetError, DatasetFormat, DatasetHeader, DatasetWriter, FrameRecord, Problem,
    Split, TRANSFORMS_FILE,
};
use serde_json::Value;

const WIDTH: u32 = 24;
const HEIGHT: u32 = 16;
const FRAMES: usize = 4;

/// Writes a small dataset with flat images and the synthetic video's poses.
fn write_dataset(folder: &Path) {
    let header = DatasetHeader {
        intrinsics: Intrinsics::from_fov(WIDTH, HEIGHT, 20.0),
        blendshapes: SyntheticHead::CONTROLS
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        head_box: HeadBox::default(),
    };
    let background = RgbImage::from_pixel(WIDTH, HEIGHT, Rgb([10, 20, 30]));
    let mut writer = DatasetWriter::create(folder, header, &background).unwrap();
    for (index, frame) in talking_head_video(FRAMES, 5).into_iter().enumerate() {
        let shade = 40 * index as u8;
        let record = FrameRecord {
            source_frame: 100 + index as u64,
            pose: frame.pose,
            expression: frame.expression,
            split: frame.split,
            face_box: [2.0, 1.0, 20.0, 15.0],
            mouth_box: [8.0, 10.0, 14.0, 13.0],
        };
        let rgb = RgbImage::from_pixel(WIDTH, HEIGHT, Rgb([shade, 1, 2]));
        let mask = GrayImage::from_pixel(WIDTH, HEIGHT, Luma([shade]));
        writer.add_frame(record, &rgb, &mask).unwrap();
    }
    writer.finish().unwrap();
}

/// A fresh dataset in a temporary folder.
fn dataset() -> tempfile::TempDir {
    let folder = tempfile::tempdir().unwrap();
    write_dataset(folder.path());
    folder
}

/// Rewrites `transforms.json` after `edit` changes its JSON value.
fn edit_transforms(folder: &Path, edit: impl FnOnce(&mut Value)) {
    let file = folder.join(TRANSFORMS_FILE);
    let mut value: Value = serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
    edit(&mut value);
    fs::write(&file, serde_json::to_string_pretty(&value).unwrap()).unwrap();
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

#[test]
fn write_then_load_round_trips() {
    let folder = dataset();
    let dataset = Dataset::load(folder.path()).unwrap();
    let t = &dataset.transforms;
    assert_eq!((t.width, t.height), (WIDTH, HEIGHT));
    assert_eq!(t.blendshapes, SyntheticHead::CONTROLS);
    assert_eq!(t.frames.len(), FRAMES);
    let video = talking_head_video(FRAMES, 5);
    for (index, (frame, source)) in t.frames.iter().zip(&video).enumerate() {
        assert_eq!(frame.source_frame, 100 + index as u64);
        assert_eq!(frame.pose(), source.pose);
        assert_eq!(frame.expression, source.expression);
        assert_eq!(frame.split, source.split);
        let shade = 40 * index as u8;
        assert_eq!(
            dataset.read_image(index).unwrap().get_pixel(3, 4).0,
            [shade, 1, 2]
        );
        assert_eq!(dataset.read_mask(index).unwrap().get_pixel(3, 4).0, [shade]);
    }
    assert_eq!(t.frames[FRAMES - 1].split, Split::Test);
    let training: Vec<_> = video.iter().filter(|f| f.split == Split::Train).collect();
    for k in 0..t.blendshapes.len() {
        let min = training
            .iter()
            .map(|f| f.expression[k])
            .fold(f32::INFINITY, f32::min);
        let max = training
            .iter()
            .map(|f| f.expression[k])
            .fold(f32::NEG_INFINITY, f32::max);
        assert_eq!((t.expression_min[k], t.expression_max[k]), (min, max));
    }
    assert_eq!(
        dataset.read_background().unwrap().get_pixel(0, 0).0,
        [10, 20, 30]
    );
    assert_eq!(t.intrinsics(), Intrinsics::from_fov(WIDTH, HEIGHT, 20.0));
    assert!(matches!(
        dataset.read_image(FRAMES),
        Err(DatasetError::NoSuchFrame { frame: FRAMES, .. })
    ));
}

#[test]
fn corrupt_json_names_the_file() {
    let folder = dataset();
    fs::write(folder.path().join(TRANSFORMS_FILE), "{ \"format\": ").unwrap();
    let error = load_error(folder.path(), &[TRANSFORMS_FILE]);
    assert!(matches!(error, DatasetError::Json { .. }));
}

#[test]
fn paths_that_leave_the_folder_are_refused_before_any_file_is_opened() {
    let outer = tempfile::tempdir().unwrap();
    let folder = outer.path().join("data");
    write_dataset(&folder);
    let original = fs::read_to_string(folder.join(TRANSFORMS_FILE)).unwrap();
    // A valid image of the right size, outside the dataset: only the path rule refuses it.
    let outside = outer.path().join("outside.png");
    RgbImage::new(WIDTH, HEIGHT).save(&outside).unwrap();
    let absolute = outside.to_str().unwrap();
    for (key, frame, path) in [
        ("image", Some(3), "../outside.png"),
        ("image", Some(0), "images/../../outside.png"),
        ("mask", Some(1), absolute),
        ("background", None, absolute),
    ] {
        fs::write(folder.join(TRANSFORMS_FILE), &original).unwrap();
        edit_transforms(&folder, |t| match frame {
            Some(index) => t["frames"][index][key] = path.into(),
            None => t[key] = path.into(),
        });
        let frame_label = frame.map(|i| format!("frame {i}")).unwrap_or_default();
        let error = load_error(&folder, &[TRANSFORMS_FILE, &frame_label, path, "leaves"]);
        let DatasetError::Invalid {
            frame: found_frame,
            problem: Problem::PathOutsideFolder { field, .. },
            ..
        } = error
        else {
            panic!("{key} `{path}`: {error:?}");
        };
        assert_eq!((found_frame, field), (frame, key));
    }
}

#[test]
fn a_missing_image_names_the_image_and_frame() {
    let folder = dataset();
    fs::remove_file(folder.path().join("images/00002.png")).unwrap();
    let error = load_error(folder.path(), &["images/00002.png", "frame 2"]);
    assert!(matches!(
        error,
        DatasetError::MissingImage { frame: Some(2), .. }
    ));
}

#[test]
fn a_mask_of_the_wrong_size_names_the_mask_and_frame() {
    let folder = dataset();
    GrayImage::new(WIDTH + 1, HEIGHT)
        .save(folder.path().join("masks/00001.png"))
        .unwrap();
    let error = load_error(folder.path(), &["masks/00001.png", "frame 1"]);
    assert!(matches!(
        error,
        DatasetError::ImageSize {
            frame: Some(1),
            found_width: 25,
            ..
        }
    ));
}

#[test]
fn nan_values_are_rejected_with_their_frame() {
    let folder = dataset();
    let file = folder.path().join(TRANSFORMS_FILE);
    let text = fs::read_to_string(&file).unwrap();
    fs::write(
        &file,
        text.replacen(
            "\"expression\": [\n        ",
            "\"expression\": [\n        NaN, ",
            1,
        ),
    )
    .unwrap();
    let error = load_error(folder.path(), &[TRANSFORMS_FILE]);
    assert!(matches!(error, DatasetError::Json { .. }));

    let mut transforms = Dataset::load(dataset().path()).unwrap().transforms;
    transforms.frames[3].expression[2] = f32::NAN;
    let error = transforms.validate(&file).unwrap_err();
    assert!(error.to_string().contains("frame 3"), "{error}");
    assert!(matches!(
        error,
        DatasetError::Invalid {
            frame: Some(3),
            problem: Problem::NonFinite("expression"),
            ..
        }
    ));
    let mut transforms = Dataset::load(dataset().path()).unwrap().transforms;
    transforms.frames[0].transform_matrix[1][3] = f32::INFINITY;
    assert!(matches!(
        transforms.validate(&file).unwrap_err(),
        DatasetError::Invalid {
            frame: Some(0),
            problem: Problem::NonFinite("transform_matrix"),
            ..
        }
    ));
}

#[test]
fn a_wrong_expression_count_names_the_frame() {
    let folder = dataset();
    edit_transforms(folder.path(), |v| {
        v["frames"][1]["expression"].as_array_mut().unwrap().pop();
    });
    let error = load_error(folder.path(), &[TRANSFORMS_FILE, "frame 1", "expected 7"]);
    assert!(matches!(
        error,
        DatasetError::Invalid {
            frame: Some(1),
            problem: Problem::Length { found: 6, .. },
            ..
        }
    ));
}

#[test]
fn a_non_rigid_pose_names_the_frame() {
    let folder = dataset();
    edit_transforms(folder.path(), |v| {
        v["frames"][2]["transform_matrix"][0][0] = Value::from(2.0);
    });
    let error = load_error(folder.path(), &[TRANSFORMS_FILE, "frame 2", "rigid"]);
    assert!(matches!(
        error,
        DatasetError::Invalid {
            frame: Some(2),
            problem: Problem::NonRigidPose,
            ..
        }
    ));
}

#[test]
fn a_box_outside_the_image_names_the_frame() {
    let folder = dataset();
    edit_transforms(folder.path(), |v| {
        v["frames"][0]["mouth_box"][2] = Value::from(WIDTH + 5);
    });
    let error = load_error(folder.path(), &["frame 0", "mouth_box"]);
    assert!(matches!(
        error,
        DatasetError::Invalid {
            problem: Problem::BoxOutsideImage {
                field: "mouth_box",
                ..
            },
            ..
        }
    ));
}

#[test]
fn an_unknown_format_version_is_rejected() {
    let folder = dataset();
    edit_transforms(folder.path(), |v| v["format"]["version"] = Value::from(2));
    let error = load_error(folder.path(), &[TRANSFORMS_FILE, "version 2"]);
    assert!(matches!(
        error,
        DatasetError::UnsupportedFormat { version: 2, .. }
    ));
}

#[test]
fn a_missing_folder_names_transforms_json() {
    let folder = tempfile::tempdir().unwrap();
    let error = load_error(&folder.path().join("nowhere"), &[TRANSFORMS_FILE]);
    assert!(matches!(error, DatasetError::Io { .. }));
}

#[test]
fn the_writer_checks_expression_counts_and_needs_training_frames() {
    let folder = tempfile::tempdir().unwrap();
    let header = DatasetHeader {
        intrinsics: Intrinsics::from_fov(8, 8, 20.0),
        blendshapes: vec!["jawOpen".to_owned()],
        head_box: HeadBox::default(),
    };
    let mut writer = DatasetWriter::create(folder.path(), header, &RgbImage::new(8, 8)).unwrap();
    let frame = &talking_head_video(1, 0)[0];
    let record = FrameRecord {
        source_frame: 0,
        pose: frame.pose,
        expression: vec![0.5, 0.5],
        split: Split::Test,
        face_box: [0.0; 4],
        mouth_box: [0.0; 4],
    };
    let error = writer
        .add_frame(record.clone(), &RgbImage::new(8, 8), &GrayImage::new(8, 8))
        .unwrap_err();
    assert!(matches!(
        error,
        DatasetError::ExpressionLength {
            frame: 0,
            found: 2,
            ..
        }
    ));
    let record = FrameRecord {
        expression: vec![0.5],
        ..record
    };
    writer
        .add_frame(record, &RgbImage::new(8, 8), &GrayImage::new(8, 8))
        .unwrap();
    assert!(matches!(
        writer.finish(),
        Err(DatasetError::NoTrainingFrames { .. })
    ));
}

#[test]
fn a_camera_inside_the_head_box_names_the_frame() {
    let folder = dataset();
    edit_transforms(folder.path(), |v| {
        for (row, value) in [0.0, 0.05, 0.1].into_iter().enumerate() {
            v["frames"][1]["transform_matrix"][row][3] = Value::from(value);
        }
    });
    let error = load_error(folder.path(), &[TRANSFORMS_FILE, "frame 1", "inside"]);
    assert!(matches!(
        error,
        DatasetError::Invalid {
            frame: Some(1),
            problem: Problem::CameraInsideHeadBox { .. },
            ..
        }
    ));
}

#[test]
fn a_camera_looking_away_from_the_head_names_the_frame() {
    let folder = dataset();
    // Moving the camera 3 m to the side keeps its direction: it now looks past the head.
    edit_transforms(folder.path(), |v| {
        let x = v["frames"][2]["transform_matrix"][0][3].as_f64().unwrap();
        v["frames"][2]["transform_matrix"][0][3] = Value::from(x + 3.0);
    });
    let error = load_error(
        folder.path(),
        &[TRANSFORMS_FILE, "frame 2", "principal ray"],
    );
    assert!(matches!(
        error,
        DatasetError::Invalid {
            frame: Some(2),
            problem: Problem::HeadOutOfView,
            ..
        }
    ));
}

#[test]
fn a_dataset_without_training_frames_is_rejected() {
    let folder = dataset();
    edit_transforms(folder.path(), |v| {
        for frame in v["frames"].as_array_mut().unwrap() {
            frame["split"] = Value::from("test");
        }
    });
    let error = load_error(folder.path(), &[TRANSFORMS_FILE, "train"]);
    assert!(matches!(
        error,
        DatasetError::Invalid {
            frame: None,
            problem: Problem::NoTrainingFrames,
            ..
        }
    ));
}

#[test]
fn the_format_read_is_exposed() {
    let folder = dataset();
    let dataset = Dataset::load(folder.path()).unwrap();
    assert_eq!(dataset.format, DatasetFormat::NerfAvatar);
}
