//! The NeRFBlendShape authors' released data format, converted on load into this project's
//! conventions.
//!
//! Layout: `transforms.json` with `h`, `w`, `fx`, `fy`, `cx`, `cy` and
//! `frames[{img_id, transform_matrix, exp_ori}]`, the frames in `head_imgs/<img_id>.jpg`,
//! face-parsing maps in `parsing/<img_id>.png` (head = pixels exactly [`HEAD_PARSING_COLOR`])
//! and the static background in `bc.jpg`. Other keys are ignored. The file is written by
//! Python, so its `NaN` and `Infinity` tokens are accepted here and reported by the
//! validation with their frame (a `null` number reads as NaN too).
//!
//! The conversion, derived in `docs/DATASET.md`:
//! - **Poses**: the released code feeds `nerf_matrix_to_ngp(pose, scale=0.33)` to torch-ngp,
//!   which permutes the world axes (x' = y, y' = z, z' = x), scales the translation by
//!   [`POSE_SCALE`] and negates the camera's y and z columns (OpenGL to OpenCV camera, as
//!   torch-ngp's rays use the direction `((x − cx)/fx, (y − cy)/fy, 1)`). The file's world
//!   already is this project's head frame (+y up, +z out of the face: the released code's
//!   own novel views orbit an identity-rotation camera placed on +z about +y), so
//!   [`pose_to_head`] only scales the translation and keeps the OpenGL camera. The rays are
//!   torch-ngp's rays expressed without the permutation: the same origins and directions up
//!   to that fixed rotation of the world, which maps the head box (a cube centred at the
//!   origin) onto itself, so every ray enters and leaves the box at the same distances.
//! - **Intrinsics**: the released code casts the ray of pixel (u, v) through the image point
//!   (u, v); this project casts it through the pixel centre (u + 0.5, v + 0.5), so `cx` and
//!   `cy` gain [`PIXEL_CENTER_SHIFT`] and every pixel keeps its ray.
//! - **Head box**: centred at the origin with half extent [`HEAD_HALF_EXTENT`].
//! - **Expressions**: [`COEFFICIENTS`] CPEM coefficients per frame, named by
//!   [`blendshape_names`] (the names of CPEM's FaceWarehouse basis are not published).
//! - **Split**: like the released code, which sorts the frames by `img_id` and holds out the
//!   last [`TEST_FRAMES`], the frames with the largest ids are the test split; a shorter
//!   set holds out all frames but the one with the smallest id ([`test_frame_count`]). The
//!   frames keep the order of the file, so frame indices in errors are positions in
//!   `frames`.
//! - **Boxes**: the format has no face or mouth boxes; both are the whole image.

use std::collections::HashMap;
use std::path::Path;

use image::{GrayImage, Luma, RgbImage};
use serde::Deserialize;

use super::error::{DatasetError, Problem};
use super::transforms::{DatasetFrame, FormatTag, Split, Transforms, training_expression_ranges};
use nerf_avatar::camera::Pose;
use nerf_avatar::config::HeadBox;

/// The factor the released code scales camera translations by.
pub const POSE_SCALE: f32 = 0.33;
/// Half the edge of the head box, centred at the origin, in scaled units (the released
/// code's `--bound`).
pub const HEAD_HALF_EXTENT: f32 = 0.06;
/// The number of expression coefficients (`exp_ori`) of every frame.
pub const COEFFICIENTS: usize = 46;
/// The number of frames, those with the largest `img_id`, held out for testing.
pub const TEST_FRAMES: usize = 500;
/// The colour of the head (face and hair) in the parsing maps.
pub const HEAD_PARSING_COLOR: [u8; 3] = [0, 0, 255];
/// The static background image, relative to the dataset folder.
pub const BACKGROUND_FILE: &str = "bc.jpg";
/// What is added to `cx` and `cy` to move the released code's pixel sample points (u, v)
/// to this project's pixel centres (u + 0.5, v + 0.5).
pub const PIXEL_CENTER_SHIFT: f32 = 0.5;

/// The names of the [`COEFFICIENTS`] expression coefficients: `exp_00` … `exp_45`.
pub fn blendshape_names() -> Vec<String> {
    (0..COEFFICIENTS).map(|i| format!("exp_{i:02}")).collect()
}

/// A released camera-to-world matrix (row-major, OpenGL camera) as a camera-to-head pose:
/// the translation is scaled by [`POSE_SCALE`], everything else is kept, the last row
/// included, so that the validation sees it as written.
pub fn pose_to_head(matrix: [[f32; 4]; 4]) -> Pose {
    let mut pose = matrix;
    for row in &mut pose[..3] {
        row[3] *= POSE_SCALE;
    }
    Pose(pose)
}

/// The frame image of `img_id`, relative to the dataset folder.
pub fn image_path(img_id: u64) -> String {
    format!("head_imgs/{img_id}.jpg")
}

/// The parsing map of `img_id`, relative to the dataset folder.
pub fn parsing_path(img_id: u64) -> String {
    format!("parsing/{img_id}.png")
}

/// How many of `frames` frames are held out: [`TEST_FRAMES`], or all but one when there
/// are not more than that (none of a single frame).
pub fn test_frame_count(frames: usize) -> usize {
    TEST_FRAMES.min(frames.saturating_sub(1))
}

/// The head mask of a parsing map: 255 where the pixel is exactly [`HEAD_PARSING_COLOR`],
/// 0 elsewhere.
pub fn head_mask(parsing: &RgbImage) -> GrayImage {
    GrayImage::from_fn(parsing.width(), parsing.height(), |x, y| {
        let head = parsing.get_pixel(x, y).0 == HEAD_PARSING_COLOR;
        Luma([if head { 255 } else { 0 }])
    })
}

/// A number of the released file; `null` (and so Python's `NaN` and infinities, see
/// `python_json`) reads as NaN, which the validation reports.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(from = "Option<f32>")]
struct Number(f32);

impl From<Option<f32>> for Number {
    fn from(value: Option<f32>) -> Self {
        Self(value.unwrap_or(f32::NAN))
    }
}

/// `transforms.json` of the released format (the keys this crate reads).
#[derive(Debug, Deserialize)]
struct ReleasedTransforms {
    h: u32,
    w: u32,
    fx: Number,
    fy: Number,
    cx: Number,
    cy: Number,
    frames: Vec<ReleasedFrame>,
}

/// One frame of the released format.
#[derive(Debug, Deserialize)]
struct ReleasedFrame {
    img_id: u64,
    transform_matrix: [[Number; 4]; 4],
    exp_ori: Vec<Number>,
}

/// Parses the released `transforms.json` (`text`, with Python's non-finite tokens already
/// read as `null`) and converts it; `file` names it in errors. The result still has to be
/// validated.
pub(crate) fn convert(file: &Path, text: &str) -> Result<Transforms, DatasetError> {
    let released: ReleasedTransforms =
        serde_json::from_str(text).map_err(|error| DatasetError::Json {
            file: file.to_owned(),
            error,
        })?;
    check_unique_ids(file, &released.frames)?;
    let splits = splits(&released.frames);
    let whole_image = [0.0, 0.0, released.w as f32, released.h as f32];
    let frames: Vec<DatasetFrame> = released
        .frames
        .iter()
        .zip(splits)
        .map(|(frame, split)| DatasetFrame {
            source_frame: frame.img_id,
            image: image_path(frame.img_id),
            mask: parsing_path(frame.img_id),
            transform_matrix: pose_to_head(frame.transform_matrix.map(|row| row.map(|v| v.0))).0,
            expression: frame.exp_ori.iter().map(|v| v.0).collect(),
            split,
            face_box: whole_image,
            mouth_box: whole_image,
        })
        .collect();
    let (expression_min, expression_max) =
        training_expression_ranges(&frames, COEFFICIENTS).unwrap_or_default();
    Ok(Transforms {
        format: FormatTag::default(),
        width: released.w,
        height: released.h,
        fx: released.fx.0,
        fy: released.fy.0,
        cx: released.cx.0 + PIXEL_CENTER_SHIFT,
        cy: released.cy.0 + PIXEL_CENTER_SHIFT,
        blendshapes: blendshape_names(),
        expression_min,
        expression_max,
        background: BACKGROUND_FILE.to_owned(),
        head_box: HeadBox {
            center: [0.0; 3],
            half_extent: HEAD_HALF_EXTENT,
        },
        frames,
    })
}

fn check_unique_ids(file: &Path, frames: &[ReleasedFrame]) -> Result<(), DatasetError> {
    let mut first_frame_of = HashMap::new();
    for (index, frame) in frames.iter().enumerate() {
        if let Some(&first_frame) = first_frame_of.get(&frame.img_id) {
            return Err(DatasetError::Invalid {
                file: file.to_owned(),
                frame: Some(index),
                problem: Problem::DuplicateImageId {
                    img_id: frame.img_id,
                    first_frame,
                },
            });
        }
        first_frame_of.insert(frame.img_id, index);
    }
    Ok(())
}

/// Each frame's split: the [`test_frame_count`] frames with the largest `img_id` are test.
fn splits(frames: &[ReleasedFrame]) -> Vec<Split> {
    let mut by_id: Vec<usize> = (0..frames.len()).collect();
    by_id.sort_by_key(|&index| frames[index].img_id);
    let mut splits = vec![Split::Train; frames.len()];
    let first_test = frames.len() - test_frame_count(frames.len());
    for &index in &by_id[first_test..] {
        splits[index] = Split::Test;
    }
    splits
}
