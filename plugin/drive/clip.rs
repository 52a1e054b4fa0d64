//! Recorded expression clips: blendshape weights over time, from a dataset's coefficient
//! track or from a CSV file with ARKit column names (as face-capture apps export them), and
//! an asset loader for `*.expression.csv` files. Clips are read as untrusted input.
//!
//! CSV: a header row, then one row per frame. Columns whose name is an ARKit blendshape name
//! (letter case ignored, so `JawOpen` works) are kept; a column named `time`, `seconds` or
//! `timestamp` gives each row's time in seconds, otherwise rows are `frame_rate` apart. Other
//! columns (`Timecode`, `BlendShapeCount`, head rotation) are ignored.

use bevy::asset::io::Reader;
use bevy::asset::{Asset, AssetLoader, LoadContext};
use bevy::reflect::TypePath;
use nerf_avatar::dataset::Transforms;
use serde::{Deserialize, Serialize};

use crate::drive::morph::arkit_name_of;

/// Names of the column that gives each row's time in seconds.
const TIME_COLUMNS: [&str; 3] = ["time", "seconds", "timestamp"];
/// Frame rate assumed for CSV files without a time column (Live Link Face records at 60).
pub const DEFAULT_CSV_FRAME_RATE: f32 = 60.0;
/// Most rows (frames) a clip may have.
pub const MAX_CLIP_FRAMES: usize = 1 << 20;

/// Blendshape weights over time.
#[derive(Asset, TypePath, Clone, Debug, PartialEq)]
pub struct ExpressionClip {
    /// The blendshape names, one per weight of a frame.
    pub names: Vec<String>,
    /// Time of each frame in seconds, strictly increasing.
    pub times: Vec<f32>,
    /// The weights of each frame, in the order of `names`.
    pub frames: Vec<Vec<f32>>,
}

/// Why a clip could not be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ClipError {
    /// There are no frames.
    #[error("the clip has no frames")]
    Empty,
    /// The clip is larger than [`MAX_CLIP_FRAMES`].
    #[error("the clip has more than {MAX_CLIP_FRAMES} frames")]
    TooLong,
    /// No column is an ARKit blendshape name.
    #[error("no column is an ARKit blendshape name (the header is `{0}`)")]
    NoBlendshapeColumns(String),
    /// A row has another number of fields than the header.
    #[error("row {row} has {found} fields, the header has {expected}")]
    RowLength {
        /// The row (1 is the header).
        row: usize,
        /// Fields in the row.
        found: usize,
        /// Fields in the header.
        expected: usize,
    },
    /// A field is not a finite number.
    #[error("row {row}, column `{column}`: `{value}` is not a finite number")]
    BadNumber {
        /// The row (1 is the header).
        row: usize,
        /// The column's name.
        column: String,
        /// The field.
        value: String,
    },
    /// Times do not increase.
    #[error("row {row}: the time does not increase")]
    TimeNotIncreasing {
        /// The row (1 is the header).
        row: usize,
    },
    /// The frame rate is not a positive number.
    #[error("the frame rate must be a positive number, got {0}")]
    BadFrameRate(f32),
}

impl ExpressionClip {
    /// Reads a CSV clip (see the module documentation).
    pub fn from_csv(text: &str, frame_rate: f32) -> Result<Self, ClipError> {
        if !(frame_rate.is_finite() && frame_rate > 0.0) {
            return Err(ClipError::BadFrameRate(frame_rate));
        }
        let mut lines = text.lines().filter(|line| !line.trim().is_empty());
        let header_line = lines.next().ok_or(ClipError::Empty)?;
        let header: Vec<&str> = header_line.split(',').map(str::trim).collect();
        let time_column = header
            .iter()
            .position(|name| TIME_COLUMNS.iter().any(|t| t.eq_ignore_ascii_case(name)));
        let columns: Vec<(usize, String)> = header
            .iter()
            .enumerate()
            .filter_map(|(i, name)| arkit_name_of(name).map(|arkit| (i, arkit)))
            .collect();
        if columns.is_empty() {
            return Err(ClipError::NoBlendshapeColumns(header_line.to_owned()));
        }
        let mut clip = Self {
            names: columns.iter().map(|(_, name)| name.clone()).collect(),
            times: Vec::new(),
            frames: Vec::new(),
        };
        for (index, line) in lines.enumerate() {
            let row = index + 2;
            if clip.frames.len() == MAX_CLIP_FRAMES {
                return Err(ClipError::TooLong);
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.len() != header.len() {
                return Err(ClipError::RowLength {
                    row,
                    found: fields.len(),
                    expected: header.len(),
                });
            }
            let number = |column: usize| {
                fields[column]
                    .parse::<f32>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| ClipError::BadNumber {
                        row,
                        column: header[column].to_owned(),
                        value: fields[column].to_owned(),
                    })
            };
            let time = match time_column {
                Some(column) => number(column)?,
                None => clip.frames.len() as f32 / frame_rate,
            };
            if clip.times.last().is_some_and(|last| time <= *last) {
                return Err(ClipError::TimeNotIncreasing { row });
            }
            let weights = columns
                .iter()
                .map(|(column, _)| number(*column))
                .collect::<Result<Vec<_>, _>>()?;
            clip.times.push(time);
            clip.frames.push(weights);
        }
        if clip.frames.is_empty() {
            return Err(ClipError::Empty);
        }
        Ok(clip)
    }

    /// The coefficient track of a dataset: its frames in video order (by source frame
    /// index), `frame_rate` frames per second (the synthetic head is recorded at 25).
    pub fn from_dataset(transforms: &Transforms, frame_rate: f32) -> Result<Self, ClipError> {
        if !(frame_rate.is_finite() && frame_rate > 0.0) {
            return Err(ClipError::BadFrameRate(frame_rate));
        }
        let mut frames: Vec<_> = transforms.frames.iter().collect();
        frames.sort_by_key(|frame| frame.source_frame);
        if frames.is_empty() {
            return Err(ClipError::Empty);
        }
        let first = frames[0].source_frame;
        Ok(Self {
            names: transforms.blendshapes.clone(),
            times: frames
                .iter()
                .map(|frame| (frame.source_frame - first) as f32 / frame_rate)
                .collect(),
            frames: frames
                .iter()
                .map(|frame| frame.expression.clone())
                .collect(),
        })
    }

    /// Seconds from the first frame to the last.
    pub fn duration(&self) -> f32 {
        self.times.last().unwrap_or(&0.0) - self.times.first().unwrap_or(&0.0)
    }

    /// The weights at `time` seconds after the first frame, interpolated linearly between
    /// frames; before the start and after the end the first and last frame hold.
    pub fn sample(&self, time: f32) -> Vec<f32> {
        let Some(&start) = self.times.first() else {
            return vec![0.0; self.names.len()];
        };
        let t = start + time;
        let next = self.times.partition_point(|&frame_time| frame_time <= t);
        if next == 0 {
            return self.frames[0].clone();
        }
        if next == self.times.len() {
            return self.frames[next - 1].clone();
        }
        let (t0, t1) = (self.times[next - 1], self.times[next]);
        let s = (t - t0) / (t1 - t0);
        self.frames[next - 1]
            .iter()
            .zip(&self.frames[next])
            .map(|(a, b)| a + (b - a) * s)
            .collect()
    }
}

/// How a CSV clip is read.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClipLoaderSettings {
    /// Frames per second when the file has no time column.
    pub frame_rate: f32,
}

impl Default for ClipLoaderSettings {
    fn default() -> Self {
        Self {
            frame_rate: DEFAULT_CSV_FRAME_RATE,
        }
    }
}

/// Why a clip file did not load.
#[derive(Debug, thiserror::Error)]
pub enum ClipLoadError {
    /// The bytes could not be read.
    #[error("could not read expression clip {path}: {source}")]
    Io {
        /// The asset path.
        path: String,
        /// The reader's error.
        source: std::io::Error,
    },
    /// The file is not UTF-8 text.
    #[error("expression clip {path} is not UTF-8 text")]
    NotText {
        /// The asset path.
        path: String,
    },
    /// The file is not a valid clip.
    #[error("expression clip {path} is not valid: {source}")]
    Invalid {
        /// The asset path.
        path: String,
        /// What is wrong with it.
        source: ClipError,
    },
}

/// Reads CSV expression clips (`.expression.csv`).
#[derive(Default, TypePath)]
pub struct ExpressionClipLoader;

impl AssetLoader for ExpressionClipLoader {
    type Asset = ExpressionClip;
    type Settings = ClipLoaderSettings;
    type Error = ClipLoadError;

    async fn load(
        &self,
        reader: &mut dyn Reader,
        settings: &ClipLoaderSettings,
        load_context: &mut LoadContext<'_>,
    ) -> Result<ExpressionClip, ClipLoadError> {
        let path = load_context.path().to_string();
        let mut bytes = Vec::new();
        if let Err(source) = reader.read_to_end(&mut bytes).await {
            return Err(ClipLoadError::Io { path, source });
        }
        let Ok(text) = String::from_utf8(bytes) else {
            return Err(ClipLoadError::NotText { path });
        };
        ExpressionClip::from_csv(&text, settings.frame_rate)
            .map_err(|source| ClipLoadError::Invalid { path, source })
    }

    fn extensions(&self) -> &[&str] {
        &["expression.csv"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_link_style_csv_keeps_arkit_columns() {
        let text = "Timecode,BlendShapeCount,EyeBlinkLeft,JawOpen,HeadYaw\n\
                    00:00:00:00.000,52,0.1,0.0,0.3\n\
                    00:00:00:01.000,52,0.3,0.5,0.3\n";
        let clip = ExpressionClip::from_csv(text, 50.0).unwrap();
        assert_eq!(clip.names, ["eyeBlinkLeft", "jawOpen"]);
        assert_eq!(clip.times, [0.0, 0.02]);
        let middle = clip.sample(0.01);
        assert!((middle[0] - 0.2).abs() < 1e-6 && (middle[1] - 0.25).abs() < 1e-6);
        assert_eq!(clip.sample(5.0), [0.3, 0.5]);
        assert_eq!(clip.sample(-1.0), [0.1, 0.0]);
    }

    #[test]
    fn time_column_and_errors() {
        let clip = ExpressionClip::from_csv("time,jawOpen\n0.5,0\n1.5,1\n", 60.0).unwrap();
        assert_eq!(clip.duration(), 1.0);
        assert!((clip.sample(0.25)[0] - 0.25).abs() < 1e-6);
        let error = |text: &str| ExpressionClip::from_csv(text, 60.0).unwrap_err();
        assert_eq!(
            error("time,jawOpen\n1,0\n1,1\n"),
            ClipError::TimeNotIncreasing { row: 3 }
        );
        assert_eq!(
            error("jawOpen,x\n0.1\n"),
            ClipError::RowLength {
                row: 2,
                found: 1,
                expected: 2
            }
        );
        assert!(matches!(
            error("jawOpen\nNaN\n"),
            ClipError::BadNumber { row: 2, .. }
        ));
        assert!(matches!(
            error("a,b\n1,2\n"),
            ClipError::NoBlendshapeColumns(_)
        ));
        assert_eq!(error("jawOpen\n"), ClipError::Empty);
        assert_eq!(error(""), ClipError::Empty);
    }
}
