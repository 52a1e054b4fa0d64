//! Monocular video → nerf-avatar dataset.
//!
//! The face tracking is MediaPipe's Face Landmarker, reimplemented around its own models
//! (converted once to ONNX, see `assets/face/README.md`) running on tract, except the
//! landmark model, which runs every frame on the crate's own kernels ([`convnet`]): the short-range
//! face detector with its SSD anchors and weighted non-maximum suppression ([`detector`]),
//! the rotated region crop ([`roi`]), the 478-point landmark model ([`landmarks`]), tracking
//! of the region from the previous frame's landmarks ([`tracker`]), the blendshape model on
//! 146 landmarks ([`blendshapes`]) and the head pose from a weighted Procrustes fit of the
//! canonical face ([`geometry`]). [`video`] decodes videos (ffmpeg) and folders of frames;
//! [`segmentation`] runs MediaPipe's selfie segmentation model (also converted to ONNX) for
//! the head masks; [`camera`], [`mask`], [`background`] and [`boxes`] turn the tracks into
//! what the trainer reads, and [`pipeline`] writes the dataset with
//! `nerf_avatar_data::DatasetWriter`.

pub mod anchors;
pub mod background;
pub mod blendshapes;
pub mod boxes;
pub mod camera;
pub mod convnet;
pub mod detector;
pub mod error;
pub mod geometry;
pub mod landmarks;
pub mod mask;
pub mod model;
pub mod pipeline;
pub mod roi;
pub mod segmentation;
pub mod smoothing;
pub mod tracker;
pub mod video;

pub use error::TrackError;
pub use pipeline::{Focal, Progress, TrackOptions, TrackReport, track_to_dataset};
pub use tracker::{Face, FaceLandmarker, FaceTracker};
