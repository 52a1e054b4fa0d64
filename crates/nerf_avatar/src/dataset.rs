//! The project's dataset format, version 1: a folder with `transforms.json`, the frames
//! (RGB PNG), the head masks (8-bit grey PNG) and a static background image.
//!
//! The format, its conventions and every key are documented in `docs/DATASET.md` at the
//! repository root ([online](https://github.com/nerf-avatar/nerf-avatar/blob/main/docs/DATASET.md)).
//! [`DatasetWriter`] writes a dataset frame by frame; [`Dataset::load`] reads one and
//! validates everything, failing with a [`DatasetError`] that names the file and, where it
//! applies, the frame index.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use image::{GrayImage, RgbImage};
use serde::{Deserialize, Serialize};

use crate::camera::{Intrinsics, Pose};
use crate::config::HeadBox;

/// The value of `format.name`.
pub const FORMAT_NAME: &str = "nerf-avatar-dataset";
/// The format version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// The name of the metadata file inside a dataset folder.
pub const TRANSFORMS_FILE: &str = "transforms.json";
/// How far a pose's rotation may be from orthonormal.
pub const RIGID_TOLERANCE: f32 = 1e-3;

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
    /// The frames, in video order.
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

    /// Checks everything that does not need the files: format, intrinsics, names, ranges,
    /// head box, and every frame's numbers, pose and boxes. `file` names the metadata file
    /// in errors.
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
        if !self.intrinsics().is_valid() {
            return Err(invalid(None, Problem::Intrinsics));
        }
        let k = self.blendshapes.len();
        let mut seen = std::collections::HashSet::new();
        if let Some(name) = self
            .blendshapes
            .iter()
            .find(|n| n.is_empty() || !seen.insert(n.as_str()))
        {
            return Err(invalid(None, Problem::BlendshapeName(name.clone())));
        }
        for (field, values) in [
            ("expression_min", &self.expression_min),
            ("expression_max", &self.expression_max),
        ] {
            if values.len() != k {
                return Err(invalid(
                    None,
                    Problem::Length {
                        field,
                        expected: k,
                        found: values.len(),
                    },
                ));
            }
            if values.iter().any(|v| !v.is_finite()) {
                return Err(invalid(None, Problem::NonFinite(field)));
            }
        }
        if self
            .expression_min
            .iter()
            .zip(&self.expression_max)
            .any(|(lo, hi)| lo > hi)
        {
            return Err(invalid(None, Problem::EmptyRange));
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
}

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
    /// The pose is not a rigid transform.
    #[error("transform_matrix is not rigid (rotation not orthonormal or last row not 0 0 0 1)")]
    NonRigidPose,
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
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// `transforms.json` is not valid JSON of the expected shape.
    #[error("{}: {source}", file.display())]
    Json {
        /// The metadata file.
        file: PathBuf,
        /// The cause (with line and column).
        source: serde_json::Error,
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
    #[error("{}{}: {source}", image.display(), frame_label(frame))]
    Image {
        /// The image.
        image: PathBuf,
        /// The frame index (none for the background).
        frame: Option<usize>,
        /// The cause.
        source: image::ImageError,
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

fn io_error(file: &Path) -> impl FnOnce(io::Error) -> DatasetError + '_ {
    move |source| DatasetError::Io {
        file: file.to_owned(),
        source,
    }
}

/// A loaded and validated dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The dataset folder.
    pub root: PathBuf,
    /// The metadata.
    pub transforms: Transforms,
}

impl Dataset {
    /// Reads `folder/transforms.json` and validates it and the images it names (existence
    /// and size, read from the image headers).
    pub fn load(folder: &Path) -> Result<Self, DatasetError> {
        let file = folder.join(TRANSFORMS_FILE);
        let text = fs::read_to_string(&file).map_err(io_error(&file))?;
        let transforms: Transforms =
            serde_json::from_str(&text).map_err(|source| DatasetError::Json {
                file: file.clone(),
                source,
            })?;
        transforms.validate(&file)?;
        let dataset = Self {
            root: folder.to_owned(),
            transforms,
        };
        dataset.check_image(&file, None, &dataset.transforms.background)?;
        for (index, frame) in dataset.transforms.frames.iter().enumerate() {
            dataset.check_image(&file, Some(index), &frame.image)?;
            dataset.check_image(&file, Some(index), &frame.mask)?;
        }
        Ok(dataset)
    }

    /// The absolute path of a path relative to the dataset folder.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Reads a frame's image as RGB.
    pub fn read_image(&self, frame: usize) -> Result<RgbImage, DatasetError> {
        let relative = self.frame(frame)?.image.clone();
        Ok(self.decode(Some(frame), &relative)?.to_rgb8())
    }

    /// Reads a frame's mask as 8-bit grey.
    pub fn read_mask(&self, frame: usize) -> Result<GrayImage, DatasetError> {
        let relative = self.frame(frame)?.mask.clone();
        Ok(self.decode(Some(frame), &relative)?.to_luma8())
    }

    /// Reads the background image as RGB.
    pub fn read_background(&self) -> Result<RgbImage, DatasetError> {
        Ok(self.decode(None, &self.transforms.background)?.to_rgb8())
    }

    fn frame(&self, index: usize) -> Result<&DatasetFrame, DatasetError> {
        self.transforms
            .frames
            .get(index)
            .ok_or_else(|| DatasetError::NoSuchFrame {
                file: self.path(TRANSFORMS_FILE),
                frame: index,
                frames: self.transforms.frames.len(),
            })
    }

    fn decode(
        &self,
        frame: Option<usize>,
        relative: &str,
    ) -> Result<image::DynamicImage, DatasetError> {
        let image = self.path(relative);
        image::open(&image).map_err(|source| DatasetError::Image {
            image,
            frame,
            source,
        })
    }

    fn check_image(
        &self,
        file: &Path,
        frame: Option<usize>,
        relative: &str,
    ) -> Result<(), DatasetError> {
        let image = self.path(relative);
        if !image.is_file() {
            return Err(DatasetError::MissingImage {
                file: file.to_owned(),
                frame,
                image,
            });
        }
        let (found_width, found_height) =
            image::image_dimensions(&image).map_err(|source| DatasetError::Image {
                image: image.clone(),
                frame,
                source,
            })?;
        let (width, height) = (self.transforms.width, self.transforms.height);
        if (found_width, found_height) != (width, height) {
            return Err(DatasetError::ImageSize {
                image,
                frame,
                width,
                height,
                found_width,
                found_height,
            });
        }
        Ok(())
    }
}

/// What a dataset says about its camera and coefficients, before any frame is written.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetHeader {
    /// The camera of every frame.
    pub intrinsics: Intrinsics,
    /// The K blendshape names.
    pub blendshapes: Vec<String>,
    /// The head box.
    pub head_box: HeadBox,
}

/// A frame to be written: its metadata (paths are chosen by the writer).
#[derive(Clone, Debug, PartialEq)]
pub struct FrameRecord {
    /// Index of the frame in the source video.
    pub source_frame: u64,
    /// Camera-to-head pose.
    pub pose: Pose,
    /// Blendshape coefficients (K values).
    pub expression: Vec<f32>,
    /// The split.
    pub split: Split,
    /// Face box in pixels.
    pub face_box: [f32; 4],
    /// Mouth box in pixels.
    pub mouth_box: [f32; 4],
}

/// Writes a dataset folder: `background.png`, `images/NNNNN.png`, `masks/NNNNN.png` and,
/// on [`DatasetWriter::finish`], `transforms.json` (written to a temporary file and
/// renamed, so a dataset is never half-written).
#[derive(Debug)]
pub struct DatasetWriter {
    root: PathBuf,
    header: DatasetHeader,
    frames: Vec<DatasetFrame>,
}

impl DatasetWriter {
    /// Creates the folder (and its `images/` and `masks/`) and writes the background.
    pub fn create(
        root: &Path,
        header: DatasetHeader,
        background: &RgbImage,
    ) -> Result<Self, DatasetError> {
        for dir in [root.to_owned(), root.join("images"), root.join("masks")] {
            fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        }
        let writer = Self {
            root: root.to_owned(),
            header,
            frames: Vec::new(),
        };
        let background_path = writer.root.join("background.png");
        Self::saved(&background_path, None, background.save(&background_path))?;
        Ok(writer)
    }

    /// Writes one frame's image and mask and records its metadata.
    pub fn add_frame(
        &mut self,
        record: FrameRecord,
        rgb: &RgbImage,
        mask: &GrayImage,
    ) -> Result<(), DatasetError> {
        let index = self.frames.len();
        let expected = self.header.blendshapes.len();
        if record.expression.len() != expected {
            return Err(DatasetError::ExpressionLength {
                folder: self.root.clone(),
                frame: index,
                expected,
                found: record.expression.len(),
            });
        }
        let image = format!("images/{index:05}.png");
        let mask_path = format!("masks/{index:05}.png");
        let (image_file, mask_file) = (self.root.join(&image), self.root.join(&mask_path));
        Self::saved(&image_file, Some(index), rgb.save(&image_file))?;
        Self::saved(&mask_file, Some(index), mask.save(&mask_file))?;
        self.frames.push(DatasetFrame {
            source_frame: record.source_frame,
            image,
            mask: mask_path,
            transform_matrix: record.pose.0,
            expression: record.expression,
            split: record.split,
            face_box: record.face_box,
            mouth_box: record.mouth_box,
        });
        Ok(())
    }

    /// Computes the training ranges, validates and writes `transforms.json`; returns its
    /// path.
    pub fn finish(self) -> Result<PathBuf, DatasetError> {
        let k = self.header.blendshapes.len();
        let mut expression_min = vec![f32::INFINITY; k];
        let mut expression_max = vec![f32::NEG_INFINITY; k];
        let training = self.frames.iter().filter(|f| f.split == Split::Train);
        let mut training_frames = 0;
        for frame in training {
            training_frames += 1;
            for (i, v) in frame.expression.iter().enumerate() {
                expression_min[i] = expression_min[i].min(*v);
                expression_max[i] = expression_max[i].max(*v);
            }
        }
        if training_frames == 0 {
            return Err(DatasetError::NoTrainingFrames { folder: self.root });
        }
        let intrinsics = self.header.intrinsics;
        let transforms = Transforms {
            format: FormatTag::default(),
            width: intrinsics.width,
            height: intrinsics.height,
            fx: intrinsics.fx,
            fy: intrinsics.fy,
            cx: intrinsics.cx,
            cy: intrinsics.cy,
            blendshapes: self.header.blendshapes,
            expression_min,
            expression_max,
            background: "background.png".to_owned(),
            head_box: self.header.head_box,
            frames: self.frames,
        };
        let file = self.root.join(TRANSFORMS_FILE);
        transforms.validate(&file)?;
        let temporary = self.root.join(format!("{TRANSFORMS_FILE}.tmp"));
        let mut out = BufWriter::new(fs::File::create(&temporary).map_err(io_error(&temporary))?);
        serde_json::to_writer_pretty(&mut out, &transforms).map_err(|source| {
            DatasetError::Json {
                file: temporary.clone(),
                source,
            }
        })?;
        out.write_all(b"\n").map_err(io_error(&temporary))?;
        out.flush().map_err(io_error(&temporary))?;
        drop(out);
        fs::rename(&temporary, &file).map_err(io_error(&file))?;
        Ok(file)
    }

    fn saved(
        path: &Path,
        frame: Option<usize>,
        result: image::ImageResult<()>,
    ) -> Result<(), DatasetError> {
        result.map_err(|source| DatasetError::Image {
            image: path.to_owned(),
            frame,
            source,
        })
    }
}
