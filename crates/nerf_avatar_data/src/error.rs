//! Why a dataset cannot be loaded or written: [`DatasetError`], which names the file and,
//! where one applies, the frame index, and [`Problem`], what is wrong with a value of the
//! metadata.

use std::io;
use std::path::{Path, PathBuf};

use super::transforms::{FORMAT_NAME, FORMAT_VERSION, PRINCIPAL_RAY_REACH};

/// What is wrong with a value of `transforms.json`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    /// Focal lengths, principal point or size are not valid.
    #[error("intrinsics must be finite with positive size and focal lengths")]
    Intrinsics,
    /// A blendshape name is empty or repeated.
    #[error("blendshape name `{0}` is empty or repeated")]
    BlendshapeName(String),
    /// A list has the wrong length.
    #[error("`{field}` has {found} values, expected {expected}")]
    Length {
        /// The key.
        field: &'static str,
        /// The expected length (K for expressions).
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// A number is NaN or infinite.
    #[error("`{0}` contains a NaN or infinite number")]
    NonFinite(&'static str),
    /// Some `expression_min` is above its `expression_max`.
    #[error("expression_min is above expression_max")]
    EmptyRange,
    /// The head box is not a finite cube of positive size.
    #[error("head_box must have a finite centre and half_extent > 0")]
    HeadBox,
    /// There are no frames.
    #[error("the dataset has no frames")]
    NoFrames,
    /// No frame belongs to the training split (the expression ranges need one).
    #[error("no frame has split `train`")]
    NoTrainingFrames,
    /// The pose is not a rigid transform.
    #[error("transform_matrix is not rigid (rotation not orthonormal or last row not 0 0 0 1)")]
    NonRigidPose,
    /// The camera centre is inside the head box (or on its surface).
    #[error("the camera centre {camera:?} is inside the head box")]
    CameraInsideHeadBox {
        /// The camera centre in head coordinates.
        camera: [f32; 3],
    },
    /// The principal ray misses the head box grown [`PRINCIPAL_RAY_REACH`] times about its
    /// centre: the camera looks away from the head.
    #[error(
        "the principal ray (through cx, cy) misses the head box by more than {} box widths: the camera looks away from the head",
        (PRINCIPAL_RAY_REACH - 1.0) / 2.0
    )]
    HeadOutOfView,
    /// Two frames of the released format share an `img_id`.
    #[error("img_id {img_id} is also the img_id of frame {first_frame}")]
    DuplicateImageId {
        /// The repeated id.
        img_id: u64,
        /// The first frame with this id.
        first_frame: usize,
    },
    /// A file path is absolute or leaves the dataset folder (see
    /// [`check_inside_folder`](super::paths::check_inside_folder)).
    #[error(
        "{field} path `{path}` leaves the dataset folder (paths must be relative and inside it)"
    )]
    PathOutsideFolder {
        /// The key: `image`, `mask` or `background`.
        field: &'static str,
        /// The path as written.
        path: String,
    },
    /// A box is not inside the image, or its corners are swapped.
    #[error("`{field}` {bbox:?} is not an x0 ≤ x1, y0 ≤ y1 box inside the image")]
    BoxOutsideImage {
        /// The key.
        field: &'static str,
        /// The box.
        bbox: [f32; 4],
    },
}

fn frame_label(frame: &Option<usize>) -> String {
    frame.map(|i| format!(", frame {i}")).unwrap_or_default()
}

/// Why a dataset could not be written or loaded.
///
/// Every message is complete on its own (it includes the text of the error it wraps), so
/// the variants expose no `source` chain that would repeat it.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// Reading or writing a file failed.
    #[error("{}: {error}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The cause.
        error: io::Error,
    },
    /// `transforms.json` is not valid JSON of the expected shape.
    #[error("{}: {error}", file.display())]
    Json {
        /// The metadata file.
        file: PathBuf,
        /// The cause (with line and column).
        error: serde_json::Error,
    },
    /// `transforms.json` is neither this project's format nor the authors' released one.
    #[error("{}: unknown dataset format: expected a `format` key (nerf-avatar) or frames with `img_id` and `exp_ori` (NeRFBlendShape release)", file.display())]
    UnknownFormat {
        /// The metadata file.
        file: PathBuf,
    },
    /// The format name or version is not this crate's.
    #[error("{}: format `{name}` version {version} is not {FORMAT_NAME} version {FORMAT_VERSION}", file.display())]
    UnsupportedFormat {
        /// The metadata file.
        file: PathBuf,
        /// The name found.
        name: String,
        /// The version found.
        version: u32,
    },
    /// A value of the metadata is invalid.
    #[error("{}{}: {problem}", file.display(), frame_label(frame))]
    Invalid {
        /// The metadata file.
        file: PathBuf,
        /// The frame index, when the value belongs to a frame.
        frame: Option<usize>,
        /// What is wrong.
        problem: Problem,
    },
    /// An image referenced by the metadata does not exist.
    #[error("{}{}: missing image {}", file.display(), frame_label(frame), image.display())]
    MissingImage {
        /// The metadata file.
        file: PathBuf,
        /// The frame index (none for the background).
        frame: Option<usize>,
        /// The missing image.
        image: PathBuf,
    },
    /// An image cannot be read or decoded.
    #[error("{}{}: {error}", image.display(), frame_label(frame))]
    Image {
        /// The image.
        image: PathBuf,
        /// The frame index (none for the background).
        frame: Option<usize>,
        /// The cause.
        error: image::ImageError,
    },
    /// An image does not have the dataset's size.
    #[error("{}{}: image is {found_width}×{found_height}, expected {width}×{height}", image.display(), frame_label(frame))]
    ImageSize {
        /// The image.
        image: PathBuf,
        /// The frame index (none for the background).
        frame: Option<usize>,
        /// Expected width.
        width: u32,
        /// Expected height.
        height: u32,
        /// Width found.
        found_width: u32,
        /// Height found.
        found_height: u32,
    },
    /// A frame index past the end of the dataset was asked for.
    #[error("{}: no frame {frame} (the dataset has {frames})", file.display())]
    NoSuchFrame {
        /// The metadata file.
        file: PathBuf,
        /// The index asked for.
        frame: usize,
        /// The number of frames.
        frames: usize,
    },
    /// A dataset needs at least one training frame (for the expression ranges).
    #[error("{}: no training frames", folder.display())]
    NoTrainingFrames {
        /// The dataset folder.
        folder: PathBuf,
    },
    /// A frame's expression has the wrong number of coefficients.
    #[error("{}, frame {frame}: expression has {found} values, expected {expected}", folder.display())]
    ExpressionLength {
        /// The dataset folder.
        folder: PathBuf,
        /// The frame index.
        frame: usize,
        /// K.
        expected: usize,
        /// The length given.
        found: usize,
    },
}

/// Wraps an I/O error with the file it concerns.
pub(crate) fn io_error(file: &Path) -> impl FnOnce(io::Error) -> DatasetError + '_ {
    move |error| DatasetError::Io {
        file: file.to_owned(),
        error,
    }
}
