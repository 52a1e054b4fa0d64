//! The metadata of a dataset (`transforms.json` of format version 1) and its validation.
//!
//! [`Transforms`] is also the form in which every other supported format is handed to the
//! trainer (see [`super::released`]), so [`Transforms::validate`] holds the checks that all
//! formats share, the degenerate-pose rule included.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{DatasetError, Problem};
use super::paths::check_inside_folder;
use nerf_avatar::camera::{Intrinsics, Pose, Ray};
use nerf_avatar::config::HeadBox;

/// The value of `format.name`.
pub const FORMAT_NAME: &str = "nerf-avatar-dataset";
/// The format version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// How far a pose's rotation may be from orthonormal.
pub const RIGID_TOLERANCE: f32 = 1e-3;
/// How many times the head box is grown about its centre before the principal ray (through
/// `cx`, `cy`) must hit it in front of the camera: 5 lets the ray miss the head box itself
/// by up to two box widths, which any camera that shows the head satisfies, while a camera
/// that looks away from the head fails.
pub const PRINCIPAL_RAY_REACH: f32 = 5.0;

/// Which split a frame belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Used to fit the model.
    Train,
    /// Held out for evaluation.
    Test,
}

/// The `format` object: name and version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatTag {
    /// Always [`FORMAT_NAME`].
    pub name: String,
    /// [`FORMAT_VERSION`] for this crate.
    pub version: u32,
}

impl Default for FormatTag {
    fn default() -> Self {
        Self {
            name: FORMAT_NAME.to_owned(),
            version: FORMAT_VERSION,
        }
    }
}

/// One frame's entry in `transforms.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetFrame {
    /// Index of the frame in the source video.
    pub source_frame: u64,
    /// Path of the RGB image, relative to the dataset folder.
    pub image: String,
    /// Path of the head mask, relative to the dataset folder.
    pub mask: String,
    /// Camera-to-head 4×4 matrix, row-major (see `camera` for the conventions).
    pub transform_matrix: [[f32; 4]; 4],
    /// Blendshape coefficients in the order of [`Transforms::blendshapes`].
    pub expression: Vec<f32>,
    /// The split.
    pub split: Split,
    /// Bounding box of the face in pixels: x0, y0, x1, y1.
    pub face_box: [f32; 4],
    /// Bounding box of the mouth in pixels: x0, y0, x1, y1.
    pub mouth_box: [f32; 4],
}

impl DatasetFrame {
    /// The camera-to-head pose.
    pub fn pose(&self) -> Pose {
        Pose(self.transform_matrix)
    }
}

/// The contents of `transforms.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transforms {
    /// Format name and version.
    pub format: FormatTag,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Focal length along x, in pixels.
    pub fx: f32,
    /// Focal length along y, in pixels.
    pub fy: f32,
    /// Principal point x, in pixels.
    pub cx: f32,
    /// Principal point y, in pixels.
    pub cy: f32,
    /// The K blendshape names, in the order of every frame's expression.
    pub blendshapes: Vec<String>,
    /// Per-coefficient minimum over the training frames.
    pub expression_min: Vec<f32>,
    /// Per-coefficient maximum over the training frames.
    pub expression_max: Vec<f32>,
    /// Path of the static background image (RGB, the frames' size), relative to the folder.
    pub background: String,
    /// The cube around the head, in head coordinates (metres).
    pub head_box: HeadBox,
    /// The frames, in video order (for the released format: in the order of its file).
    pub frames: Vec<DatasetFrame>,
}

impl Transforms {
    /// The camera intrinsics.
    pub fn intrinsics(&self) -> Intrinsics {
        Intrinsics {
            width: self.width,
            height: self.height,
            fx: self.fx,
            fy: self.fy,
            cx: self.cx,
            cy: self.cy,
        }
    }

    /// Checks everything that does not need the files: format, that every path stays inside
    /// the dataset folder, intrinsics, names, head box, every frame's numbers, pose and boxes,
    /// that some frame is for training, and the expression ranges. `file` names the metadata
    /// file in errors.
    ///
    /// A pose must be rigid, its camera centre must lie outside the head box, and its
    /// principal ray must hit the head box grown [`PRINCIPAL_RAY_REACH`] times about its
    /// centre, in front of the camera.
    pub fn validate(&self, file: &Path) -> Result<(), DatasetError> {
        let invalid = |frame: Option<usize>, problem: Problem| DatasetError::Invalid {
            file: file.to_owned(),
            frame,
            problem,
        };
        if self.format.name != FORMAT_NAME || self.format.version != FORMAT_VERSION {
            return Err(DatasetError::UnsupportedFormat {
                file: file.to_owned(),
                name: self.format.name.clone(),
                version: self.format.version,
            });
        }
        check_inside_folder("background", &self.background)
            .map_err(|problem| invalid(None, problem))?;
        for (index, frame) in self.frames.iter().enumerate() {
            check_inside_folder("image", &frame.image)
                .and_then(|()| check_inside_folder("mask", &frame.mask))
                .map_err(|problem| invalid(Some(index), problem))?;
        }
        if !self.intrinsics().is_valid() {
            return Err(invalid(None, Problem::Intrinsics));
        }
        let mut seen = HashSet::new();
        if let Some(name) = self
            .blendshapes
            .iter()
            .find(|n| n.is_empty() || !seen.insert(n.as_str()))
        {
            return Err(invalid(None, Problem::BlendshapeName(name.clone())));
        }
        let hb = &self.head_box;
        if !(hb.half_extent.is_finite() && hb.half_extent > 0.0)
            || hb.center.iter().any(|c| !c.is_finite())
        {
            return Err(invalid(None, Problem::HeadBox));
        }
        if self.frames.is_empty() {
            return Err(invalid(None, Problem::NoFrames));
        }
        for (index, frame) in self.frames.iter().enumerate() {
            self.validate_frame(frame)
                .map_err(|problem| invalid(Some(index), problem))?;
        }
        if !self.frames.iter().any(|f| f.split == Split::Train) {
            return Err(invalid(None, Problem::NoTrainingFrames));
        }
        self.validate_ranges()
            .map_err(|problem| invalid(None, problem))
    }

    fn validate_ranges(&self) -> Result<(), Problem> {
        let k = self.blendshapes.len();
        for (field, values) in [
            ("expression_min", &self.expression_min),
            ("expression_max", &self.expression_max),
        ] {
            if values.len() != k {
                return Err(Problem::Length {
                    field,
                    expected: k,
                    found: values.len(),
                });
            }
            if values.iter().any(|v| !v.is_finite()) {
                return Err(Problem::NonFinite(field));
            }
        }
        if self
            .expression_min
            .iter()
            .zip(&self.expression_max)
            .any(|(lo, hi)| lo > hi)
        {
            return Err(Problem::EmptyRange);
        }
        Ok(())
    }

    fn validate_frame(&self, frame: &DatasetFrame) -> Result<(), Problem> {
        if frame
            .transform_matrix
            .iter()
            .flatten()
            .any(|v| !v.is_finite())
        {
            return Err(Problem::NonFinite("transform_matrix"));
        }
        if !frame.pose().is_rigid(RIGID_TOLERANCE) {
            return Err(Problem::NonRigidPose);
        }
        self.validate_view(&frame.pose())?;
        if frame.expression.len() != self.blendshapes.len() {
            return Err(Problem::Length {
                field: "expression",
                expected: self.blendshapes.len(),
                found: frame.expression.len(),
            });
        }
        if frame.expression.iter().any(|v| !v.is_finite()) {
            return Err(Problem::NonFinite("expression"));
        }
        let (w, h) = (self.width as f32, self.height as f32);
        for (field, b) in [("face_box", frame.face_box), ("mouth_box", frame.mouth_box)] {
            if b.iter().any(|v| !v.is_finite()) {
                return Err(Problem::NonFinite(field));
            }
            let inside = 0.0 <= b[0]
                && b[0] <= b[2]
                && b[2] <= w
                && 0.0 <= b[1]
                && b[1] <= b[3]
                && b[3] <= h;
            if !inside {
                return Err(Problem::BoxOutsideImage { field, bbox: b });
            }
        }
        Ok(())
    }

    /// The degenerate-pose rule of a rigid pose: the camera is outside the head box and
    /// looks towards it.
    fn validate_view(&self, pose: &Pose) -> Result<(), Problem> {
        let camera = pose.origin();
        let head_box = &self.head_box;
        let inside = (0..3).all(|i| (camera[i] - head_box.center[i]).abs() <= head_box.half_extent);
        if inside {
            return Err(Problem::CameraInsideHeadBox { camera });
        }
        let principal_ray = Ray::through_point(&self.intrinsics(), pose, self.cx, self.cy);
        let reach = HeadBox {
            center: head_box.center,
            half_extent: head_box.half_extent * PRINCIPAL_RAY_REACH,
        };
        match principal_ray.intersect_box(&reach, 0.0) {
            Some(_) => Ok(()),
            None => Err(Problem::HeadOutOfView),
        }
    }
}

/// Per-coefficient minimum and maximum over the training frames that have `k`
/// coefficients (NaNs are skipped); `None` when there is no such frame.
pub(crate) fn training_expression_ranges(
    frames: &[DatasetFrame],
    k: usize,
) -> Option<(Vec<f32>, Vec<f32>)> {
    let mut training = frames
        .iter()
        .filter(|f| f.split == Split::Train && f.expression.len() == k)
        .peekable();
    training.peek()?;
    let mut expression_min = vec![f32::INFINITY; k];
    let mut expression_max = vec![f32::NEG_INFINITY; k];
    for frame in training {
        for (i, v) in frame.expression.iter().enumerate() {
            expression_min[i] = expression_min[i].min(*v);
            expression_max[i] = expression_max[i].max(*v);
        }
    }
    Some((expression_min, expression_max))
}
