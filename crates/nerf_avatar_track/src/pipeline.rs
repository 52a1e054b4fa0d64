//! Video (or folder of frames) → dataset folder of format version 1.
//!
//! Pass 1 tracks every frame and keeps a few frames for the backdrop and background; pass 2
//! decodes the frames again and writes the images, masks and metadata of the frames that
//! show a face (frames without one are reported in [`TrackReport::skipped`]). Pass 2 makes
//! the crops and masks of `WRITE_CHUNK` frames at a time on all cores (the frames do not
//! depend on each other), then writes them in order.

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::imageops::{self, FilterType};
use image::{GrayImage, RgbImage};
use nerf_avatar::Pose;
use nerf_avatar::blendshapes::ARKIT_BLENDSHAPES;
use nerf_avatar_data::{DatasetHeader, DatasetWriter, FrameRecord, Split};
use rayon::prelude::*;

use crate::background::estimate_background;
use crate::boxes::{face_box, mouth_box};
use crate::camera::{Crop, HEAD_BOX, SourceCamera, camera_to_head};
use crate::error::TrackError;
use crate::mask::{Backdrop, head_mask};
use crate::segmentation::SegmentationModel;
use crate::smoothing::{smooth_coefficients, smooth_poses};
use crate::tracker::{FaceLandmarker, FaceTracker};
use crate::video::VideoDecoder;

/// Frames kept from pass 1 to estimate the backdrop and the background.
const SAMPLED_FRAMES: usize = 32;

/// How the source camera's focal length is set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Focal {
    /// A vertical field of view in degrees.
    FovY(f64),
    /// A focal length in source pixels.
    Pixels(f64),
}

/// Options of [`track_to_dataset`].
#[derive(Clone, Debug, PartialEq)]
pub struct TrackOptions {
    /// Read at most this many frames.
    pub max_frames: Option<usize>,
    /// Side of the square images written, in pixels.
    pub size: u32,
    /// Frames held out for testing (the last ones); `None` for 10% (at least one).
    pub test_frames: Option<usize>,
    /// The source camera's focal length.
    pub focal: Focal,
    /// Radius in frames of the moving average over poses and coefficients (0: none).
    pub smoothing: usize,
}

/// Progress reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Progress {
    /// A frame was tracked (pass 1).
    Tracked {
        /// Frames read so far.
        frames: usize,
        /// Frames with a face so far.
        faces: usize,
    },
    /// A frame was written (pass 2).
    Written {
        /// Frames written so far.
        written: usize,
        /// Frames to write.
        total: usize,
    },
}

/// What [`track_to_dataset`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackReport {
    /// Frames read from the source.
    pub frames_read: usize,
    /// Source indices of the frames without a face (skipped).
    pub skipped: Vec<u64>,
    /// Frames written for training.
    pub train: usize,
    /// Frames written for testing.
    pub test: usize,
    /// The source camera.
    pub camera: SourceCamera,
    /// The crop of the source frames.
    pub crop: Crop,
    /// Whether the backdrop was uniform enough for colour keying.
    pub keyed: bool,
    /// Seconds spent tracking (pass 1, decoding included).
    pub tracking_seconds: f64,
    /// The written `transforms.json`.
    pub transforms: PathBuf,
}

/// Frames whose crops and masks pass 2 makes together.
const WRITE_CHUNK: usize = 16;

struct Tracked {
    source_frame: u64,
    landmarks: Vec<[f32; 3]>,
    expression: Vec<f32>,
    pose: Pose,
}

/// Tracks `input` and writes the dataset folder `out`.
pub fn track_to_dataset(
    input: &Path,
    out: &Path,
    options: &TrackOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<TrackReport, TrackError> {
    let started = Instant::now();
    let mut source = VideoDecoder::open(input, options.max_frames)?;
    let (width, height) = (source.width(), source.height());
    let camera = match options.focal {
        Focal::FovY(degrees) => SourceCamera::from_fov(width, height, degrees),
        Focal::Pixels(focal) => SourceCamera {
            width,
            height,
            focal,
        },
    };
    let mut tracker = FaceTracker::new(FaceLandmarker::new()?);
    let mut tracks = Vec::new();
    let mut skipped = Vec::new();
    let mut samples = FrameSampler::default();
    let mut frames_read = 0;
    while let Some((index, frame)) = source.next_frame()? {
        frames_read += 1;
        match tracker.track(&frame)? {
            Some(face) => {
                let pose = tracker.landmarker().canonical_face().face_pose(
                    &face.landmarks.points,
                    width,
                    height,
                    camera.fov_y_degrees(),
                );
                tracks.push(Tracked {
                    source_frame: index,
                    expression: face.blendshapes[1..].to_vec(),
                    landmarks: face.landmarks.points,
                    pose: camera_to_head(&pose),
                });
                samples.offer(tracks.len() - 1, frame);
            }
            None => skipped.push(index),
        }
        progress(Progress::Tracked {
            frames: frames_read,
            faces: tracks.len(),
        });
    }
    drop(source);
    let tracking_seconds = started.elapsed().as_secs_f64();
    match tracks.len() {
        0 if frames_read == 0 => {
            return Err(TrackError::NoFrames {
                path: input.to_owned(),
            });
        }
        0 => {
            return Err(TrackError::NoFace {
                path: input.to_owned(),
                frames: frames_read,
            });
        }
        1 => {
            return Err(TrackError::TooFewFaces {
                path: input.to_owned(),
                found: 1,
            });
        }
        _ => {}
    }
    smooth_tracks(&mut tracks, options.smoothing);

    let mut centres_x: Vec<f32> = tracks.iter().map(|t| t.landmarks[1][0]).collect();
    let mut centres_y: Vec<f32> = tracks.iter().map(|t| t.landmarks[1][1]).collect();
    let crop = Crop::around(
        [median(&mut centres_x), median(&mut centres_y)],
        width,
        height,
        options.size,
    );
    let sample_frames: Vec<&RgbImage> = samples.frames.iter().map(|(_, f)| f).collect();
    let backdrop = Backdrop::estimate(&sample_frames);
    let segmentation = SegmentationModel::new()?;
    let maker = FrameMaker {
        backdrop: &backdrop,
        segmentation: &segmentation,
        crop: &crop,
    };
    let background_samples = samples
        .frames
        .par_iter()
        .map(|(track, frame)| maker.make(frame, &tracks[*track].landmarks))
        .collect::<Result<Vec<(RgbImage, GrayImage)>, TrackError>>()?;
    let background = estimate_background(&background_samples);

    let header = DatasetHeader {
        intrinsics: crop.intrinsics(&camera),
        blendshapes: ARKIT_BLENDSHAPES.iter().map(|s| (*s).to_owned()).collect(),
        head_box: HEAD_BOX,
    };
    let mut writer = DatasetWriter::create(out, header, &background)?;
    let test = options
        .test_frames
        .unwrap_or(tracks.len() / 10)
        .clamp(1, tracks.len() - 1);
    let train = tracks.len() - test;
    let mut source = VideoDecoder::open(input, options.max_frames)?;
    let mut next = tracks.iter().enumerate().peekable();
    let mut chunk = Vec::with_capacity(WRITE_CHUNK);
    while let Some((index, frame)) = source.next_frame()? {
        let Some(&(position, track)) = next.peek() else {
            break;
        };
        if track.source_frame != index {
            continue;
        }
        next.next();
        chunk.push((position, track, frame));
        if chunk.len() == WRITE_CHUNK {
            maker.write(&mut chunk, train, &mut writer, tracks.len(), progress)?;
        }
    }
    maker.write(&mut chunk, train, &mut writer, tracks.len(), progress)?;
    if let Some((_, missing)) = next.next() {
        return Err(TrackError::CorruptVideo {
            path: input.to_owned(),
            message: format!(
                "frame {} decoded on the first pass but not on the second",
                missing.source_frame
            ),
        });
    }
    let transforms = writer.finish()?;
    Ok(TrackReport {
        frames_read,
        skipped,
        train,
        test,
        camera,
        crop,
        keyed: backdrop.uniform,
        tracking_seconds,
        transforms,
    })
}

fn smooth_tracks(tracks: &mut [Tracked], radius: usize) {
    let mut coefficients: Vec<Vec<f32>> = tracks.iter().map(|t| t.expression.clone()).collect();
    let mut poses: Vec<Pose> = tracks.iter().map(|t| t.pose).collect();
    smooth_coefficients(&mut coefficients, radius);
    smooth_poses(&mut poses, radius);
    for ((track, expression), pose) in tracks.iter_mut().zip(coefficients).zip(poses) {
        track.expression = expression;
        track.pose = pose;
    }
}

/// A source frame and its head mask, cropped and resized to the dataset's size.
/// What pass 2 needs to make a dataset frame of a tracked one.
struct FrameMaker<'a> {
    backdrop: &'a Backdrop,
    segmentation: &'a SegmentationModel,
    crop: &'a Crop,
}

impl FrameMaker<'_> {
    /// The dataset's crop of `frame` and its head mask.
    fn make(
        &self,
        frame: &RgbImage,
        landmarks: &[[f32; 3]],
    ) -> Result<(RgbImage, GrayImage), TrackError> {
        let crop = self.crop;
        let points: Vec<[f32; 2]> = landmarks.iter().map(|p| [p[0] + 0.5, p[1] + 0.5]).collect();
        let person = self.segmentation.person_probability(frame)?;
        let mask = head_mask(frame, &points, self.backdrop, &person);
        let cut = |image: &RgbImage| {
            imageops::crop_imm(image, crop.x0, crop.y0, crop.side, crop.side).to_image()
        };
        let rgb = imageops::resize(&cut(frame), crop.size, crop.size, FilterType::CatmullRom);
        let mask_crop =
            imageops::crop_imm(&mask, crop.x0, crop.y0, crop.side, crop.side).to_image();
        let mask = imageops::resize(&mask_crop, crop.size, crop.size, FilterType::Triangle);
        Ok((rgb, mask))
    }

    /// Makes the crops and masks of `chunk` (position among the tracked frames, track, source
    /// frame) on all cores, then writes them in order and empties `chunk`; the first `train`
    /// tracked frames are training frames.
    fn write(
        &self,
        chunk: &mut Vec<(usize, &Tracked, RgbImage)>,
        train: usize,
        writer: &mut DatasetWriter,
        total: usize,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), TrackError> {
        let made = chunk
            .par_iter()
            .map(|(_, track, frame)| self.make(frame, &track.landmarks))
            .collect::<Result<Vec<(RgbImage, GrayImage)>, TrackError>>()?;
        for ((position, track, _), (rgb, mask)) in chunk.drain(..).zip(made) {
            let points: Vec<[f32; 2]> = track
                .landmarks
                .iter()
                .map(|p| self.crop.to_dataset([p[0], p[1]]))
                .collect();
            let record = FrameRecord {
                source_frame: track.source_frame,
                pose: track.pose,
                expression: track.expression.clone(),
                split: if position < train {
                    Split::Train
                } else {
                    Split::Test
                },
                face_box: face_box(&points, self.crop.size, self.crop.size),
                mouth_box: mouth_box(&points, self.crop.size, self.crop.size),
            };
            writer.add_frame(record, &rgb, &mask)?;
            progress(Progress::Written {
                written: position + 1,
                total,
            });
        }
        Ok(())
    }
}

fn median(values: &mut [f32]) -> f32 {
    values.sort_by(f32::total_cmp);
    values[values.len() / 2]
}

/// Keeps an evenly spaced subset of at most [`SAMPLED_FRAMES`] frames of a stream of
/// unknown length: every `stride`-th, doubling the stride when full.
#[derive(Default)]
struct FrameSampler {
    stride: usize,
    frames: Vec<(usize, RgbImage)>,
}

impl FrameSampler {
    fn offer(&mut self, track: usize, frame: RgbImage) {
        let stride = self.stride.max(1);
        if !track.is_multiple_of(stride) {
            return;
        }
        self.frames.push((track, frame));
        if self.frames.len() > SAMPLED_FRAMES {
            self.stride = stride * 2;
            let kept = self.stride;
            self.frames.retain(|(t, _)| t.is_multiple_of(kept));
        }
    }
}
