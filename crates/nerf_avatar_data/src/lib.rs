//! Datasets the trainer reads: the project's own format, version 1 (a folder with
//! `transforms.json`, the frames as RGB PNG, the head masks as 8-bit grey PNG and a static
//! background image), and the format of the NeRFBlendShape authors' released data.
//!
//! Both formats and their conventions are documented in `docs/DATASET.md` at the repository
//! root ([online](https://github.com/nerf-avatar/nerf-avatar/blob/main/docs/DATASET.md)).
//! [`Dataset::load`] tells the formats apart by the keys of `transforms.json`, converts the
//! released format into this project's conventions ([`released`]) and validates everything,
//! failing with a [`DatasetError`] that names the file and, where it applies, the frame
//! index. Either way the result is the same [`Transforms`], read through the same methods.
//! [`DatasetWriter`] writes datasets of format version 1.

mod clip;
mod error;
mod paths;
mod python_json;
pub mod released;
pub mod synthetic;
mod transforms;
mod writer;

use std::fs::{self, File};
use std::io::BufReader;
use std::path::{Path, PathBuf};

use image::{DynamicImage, GrayImage, ImageReader, RgbImage};
use serde_json::Value;

pub use error::{DatasetError, Problem};
pub use transforms::{
    DatasetFrame, FORMAT_NAME, FORMAT_VERSION, FormatTag, PRINCIPAL_RAY_REACH, RIGID_TOLERANCE,
    Split, Transforms,
};
pub use writer::{DatasetHeader, DatasetWriter, FrameRecord};

use error::io_error;

/// The name of the metadata file inside a dataset folder (both formats).
pub const TRANSFORMS_FILE: &str = "transforms.json";

/// The on-disk format a dataset was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatasetFormat {
    /// This project's format, version 1: `transforms.json` has a `format` key.
    NerfAvatar,
    /// The NeRFBlendShape authors' released format: frames with `img_id` and `exp_ori`,
    /// converted on load (see [`released`]).
    Released,
}

impl DatasetFormat {
    /// Tells the formats apart: a top-level `format` key means this project's format (even
    /// when its name or version is wrong, so that the error says so); otherwise frames with
    /// `img_id` or `exp_ori`, or the released size keys `w` and `h`, mean the released
    /// format.
    fn detect(metadata: &Value) -> Option<Self> {
        let top = metadata.as_object()?;
        if top.contains_key("format") {
            return Some(Self::NerfAvatar);
        }
        let released_frame = |frame: &Value| {
            frame
                .as_object()
                .is_some_and(|f| f.contains_key("img_id") || f.contains_key("exp_ori"))
        };
        let released_frames = top
            .get("frames")
            .and_then(Value::as_array)
            .is_some_and(|frames| frames.iter().any(released_frame));
        let released_size = top.contains_key("w") && top.contains_key("h");
        (released_frames || released_size).then_some(Self::Released)
    }
}

/// A loaded and validated dataset, in this project's conventions whatever its format.
///
/// For the released format, [`Dataset::transforms`] is the converted metadata: its frames'
/// `mask` paths name the parsing maps, which [`Dataset::read_mask`] turns into head masks.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The dataset folder.
    pub root: PathBuf,
    /// The format `transforms.json` was written in.
    pub format: DatasetFormat,
    /// The metadata (converted to format version 1 for the released format).
    pub transforms: Transforms,
}

impl Dataset {
    /// Reads `folder/transforms.json` in either format, converts it if needed, and validates
    /// it and the images it names (existence and size, read from the image headers). Every
    /// path it names must be relative and stay inside `folder`; that is checked before any
    /// image is opened.
    pub fn load(folder: &Path) -> Result<Self, DatasetError> {
        let file = folder.join(TRANSFORMS_FILE);
        let text = fs::read_to_string(&file).map_err(io_error(&file))?;
        let json_error = |error| DatasetError::Json {
            file: file.clone(),
            error,
        };
        let tolerant_text = python_json::non_finite_as_null(&text);
        let metadata: Value = serde_json::from_str(&tolerant_text).map_err(json_error)?;
        let format = DatasetFormat::detect(&metadata)
            .ok_or_else(|| DatasetError::UnknownFormat { file: file.clone() })?;
        let transforms = match format {
            DatasetFormat::NerfAvatar => serde_json::from_str(&text).map_err(json_error)?,
            DatasetFormat::Released => released::convert(&file, &tolerant_text)?,
        };
        transforms.validate(&file)?;
        let dataset = Self {
            root: folder.to_owned(),
            format,
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

    /// Reads a frame's image (PNG or JPEG) as RGB.
    pub fn read_image(&self, frame: usize) -> Result<RgbImage, DatasetError> {
        let relative = self.frame(frame)?.image.clone();
        Ok(self.decode(Some(frame), &relative)?.to_rgb8())
    }

    /// Reads a frame's head mask as 8-bit grey, 255 where the head is: the mask image itself
    /// for this project's format, the pixels of the parsing map equal to
    /// [`released::HEAD_PARSING_COLOR`] for the released format.
    pub fn read_mask(&self, frame: usize) -> Result<GrayImage, DatasetError> {
        let relative = self.frame(frame)?.mask.clone();
        let decoded = self.decode(Some(frame), &relative)?;
        Ok(match self.format {
            DatasetFormat::NerfAvatar => decoded.to_luma8(),
            DatasetFormat::Released => released::head_mask(&decoded.to_rgb8()),
        })
    }

    /// Reads the background image (PNG or JPEG) as RGB.
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

    fn decode(&self, frame: Option<usize>, relative: &str) -> Result<DynamicImage, DatasetError> {
        let image = self.path(relative);
        open_image(&image)
            .and_then(ImageReader::decode)
            .map_err(|error| DatasetError::Image {
                image,
                frame,
                error,
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
        let (found_width, found_height) = open_image(&image)
            .and_then(ImageReader::into_dimensions)
            .map_err(|error| DatasetError::Image {
                image: image.clone(),
                frame,
                error,
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

/// Opens an image, recognising its format (PNG or JPEG) from its contents.
fn open_image(path: &Path) -> image::ImageResult<ImageReader<BufReader<File>>> {
    ImageReader::open(path)
        .and_then(ImageReader::with_guessed_format)
        .map_err(image::ImageError::IoError)
}
