//! [`TrackError`]: everything that can go wrong between a video and a dataset.

use std::path::PathBuf;

/// An error of the tracker. Each names the file (or model) and the problem.
///
/// Every message is complete on its own (it includes the text of the error it wraps), so
/// the variants expose no `source` chain that would repeat it.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    /// The input path cannot be read (missing, no permission, not a file or folder).
    #[error("cannot read {path}: {error}")]
    Unreadable {
        /// The input.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// ffmpeg or ffprobe could not be started.
    #[error(
        "cannot run {program} to decode {path}: {error} (install ffmpeg, e.g. `apt-get install ffmpeg`, or pass a folder of frames)"
    )]
    FfmpegMissing {
        /// `ffmpeg` or `ffprobe`.
        program: &'static str,
        /// The video.
        path: PathBuf,
        /// Why it could not be started.
        error: std::io::Error,
    },
    /// The file is not a video that ffmpeg can decode.
    #[error("{path} is not a readable video: {message}")]
    CorruptVideo {
        /// The video.
        path: PathBuf,
        /// ffmpeg's or ffprobe's message.
        message: String,
    },
    /// A frame image of a folder cannot be decoded.
    #[error("cannot decode frame image {path}: {error}")]
    FrameImage {
        /// The image.
        path: PathBuf,
        /// The decoder's error.
        error: image::ImageError,
    },
    /// A folder of frames whose images differ in size.
    #[error(
        "frame image {path} is {found_width}×{found_height}, the first frame is {width}×{height}"
    )]
    FrameSize {
        /// The image.
        path: PathBuf,
        /// Size of the first frame.
        width: u32,
        /// Size of the first frame.
        height: u32,
        /// Size of this frame.
        found_width: u32,
        /// Size of this frame.
        found_height: u32,
    },
    /// The input holds no frames at all.
    #[error(
        "{path} holds no frames (a video with no video stream, or a folder without PNG/JPEG images)"
    )]
    NoFrames {
        /// The input.
        path: PathBuf,
    },
    /// No frame of the input shows a face.
    #[error("no face was found in any of the {frames} frames of {path}")]
    NoFace {
        /// The input.
        path: PathBuf,
        /// How many frames were searched.
        frames: usize,
    },
    /// Too few frames with a face to make a training and a test split.
    #[error(
        "only {found} frame(s) of {path} show a face; at least 2 are needed (one to train, one to test)"
    )]
    TooFewFaces {
        /// The input.
        path: PathBuf,
        /// Frames with a face.
        found: usize,
    },
    /// A model failed to load or run.
    #[error("model {model} (assets/face/{model}.onnx, embedded): {message}")]
    Model {
        /// Which model: the stem of its file under `assets/face/`.
        model: &'static str,
        /// What went wrong (tract's error with its causes, or the kernels' loader's).
        message: String,
    },
    /// The canonical face asset is malformed.
    #[error("canonical face asset: {0}")]
    CanonicalFace(String),
    /// Writing the dataset failed.
    #[error(transparent)]
    Dataset(#[from] nerf_avatar_data::DatasetError),
}
