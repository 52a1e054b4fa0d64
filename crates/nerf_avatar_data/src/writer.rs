//! [`DatasetWriter`]: writes a dataset of format version 1 frame by frame.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use image::{GrayImage, RgbImage};

use super::TRANSFORMS_FILE;
use super::error::{DatasetError, io_error};
use super::transforms::{DatasetFrame, FormatTag, Split, Transforms, training_expression_ranges};
use nerf_avatar::camera::{Intrinsics, Pose};
use nerf_avatar::config::HeadBox;

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
        let Some((expression_min, expression_max)) = training_expression_ranges(&self.frames, k)
        else {
            return Err(DatasetError::NoTrainingFrames { folder: self.root });
        };
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
        serde_json::to_writer_pretty(&mut out, &transforms).map_err(|error| {
            DatasetError::Json {
                file: temporary.clone(),
                error,
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
        result.map_err(|error| DatasetError::Image {
            image: path.to_owned(),
            frame,
            error,
        })
    }
}
