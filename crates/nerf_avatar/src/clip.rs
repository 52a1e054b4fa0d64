//! Recorded expression clips: a track of coefficients by blendshape name, one row per frame,
//! with head poses when the recording has them. A clip comes from a dataset (its frames'
//! coefficients and camera poses, `nerf_avatar_data::Dataset::expression_clip`) or from a CSV file with ARKit column names, as
//! face-capture apps export it (e.g. Live Link Face: `Timecode,BlendShapeCount,
//! EyeBlinkLeft,…`; names are matched ignoring case, other columns are reported and left
//! out). A column named `time`, `seconds` or `timestamp` gives each row's time in seconds;
//! without one, rows are a given frame rate apart.
//!
//! Each clip carries the range its subject moves each coefficient through (`low`, `high`),
//! which retargeting maps onto an avatar's range: for a dataset, the training split's
//! recorded range; for a CSV, the 2nd and 98th percentiles of each column, so that a few
//! outlier frames do not squash the rest.

use std::path::{Path, PathBuf};

use crate::blendshapes::ARKIT_BLENDSHAPES;
use crate::camera::Pose;

/// Percentiles of a CSV column taken as its subject's neutral and full value.
const CSV_RANGE_PERCENTILES: (f64, f64) = (0.02, 0.98);
/// Largest CSV file read, in bytes.
pub const MAX_CSV_BYTES: u64 = 256 << 20;
/// Most frames a clip may have.
pub const MAX_CLIP_FRAMES: usize = 1 << 20;
/// Names of the CSV column that gives each row's time in seconds (letter case ignored).
const TIME_COLUMNS: [&str; 3] = ["time", "seconds", "timestamp"];

/// Why a clip could not be read.
///
/// Every message is complete on its own (it includes the text of the error it wraps), so
/// the variants expose no `source` chain that would repeat it.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    /// The file cannot be read.
    #[error("cannot read `{}`: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        error: std::io::Error,
    },
    /// The file is larger than [`MAX_CSV_BYTES`].
    #[error("`{}` is {size} bytes, more than the limit of {MAX_CSV_BYTES}", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// The CSV is malformed.
    #[error("`{}` line {line}: {message}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// No column is an ARKit blendshape name.
    #[error("`{}` has no column named after an ARKit blendshape (such as jawOpen or EyeBlinkLeft)", path.display())]
    NoBlendshapeColumns {
        /// The file.
        path: PathBuf,
    },
    /// The clip has no frames.
    #[error("`{}` holds no frames", path.display())]
    Empty {
        /// The file or folder.
        path: PathBuf,
    },
    /// The clip has more than [`MAX_CLIP_FRAMES`] frames.
    #[error("`{}` has more than {MAX_CLIP_FRAMES} frames", path.display())]
    TooLong {
        /// The file or folder.
        path: PathBuf,
    },
    /// The frame rate is not a positive number.
    #[error("the frame rate must be a positive number, got {0}")]
    BadFrameRate(f32),
}

/// The head motion of a clip.
#[derive(Clone, Debug, PartialEq)]
pub struct PoseTrack {
    /// One camera-to-head pose per frame.
    pub poses: Vec<Pose>,
    /// The subject's mean view (for a dataset, over its training frames).
    pub mean: Pose,
    /// The centre of the subject's head box, in the poses' coordinates.
    pub head_center: [f32; 3],
}

/// A recorded expression track.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpressionClip {
    /// The coefficient names, in the order of each row.
    pub names: Vec<String>,
    /// Time of each frame in seconds from the recording's start, strictly increasing.
    pub times: Vec<f32>,
    /// One row of coefficients per frame.
    pub frames: Vec<Vec<f32>>,
    /// The head motion, when the recording has it.
    pub poses: Option<PoseTrack>,
    /// Per-name value of the subject's neutral face.
    pub low: Vec<f32>,
    /// Per-name value of the subject's strongest use of the control.
    pub high: Vec<f32>,
    /// Columns of a CSV that are not blendshape names and were left out.
    pub ignored_columns: Vec<String>,
}

impl ExpressionClip {
    /// Reads a CSV clip from `path` (see the module documentation); rows without a time
    /// column are `frame_rate` apart.
    pub fn read_csv(path: &Path, frame_rate: f32) -> Result<Self, ClipError> {
        let io = |error| ClipError::Io {
            path: path.to_owned(),
            error,
        };
        let size = std::fs::metadata(path).map_err(io)?.len();
        if size > MAX_CSV_BYTES {
            return Err(ClipError::TooLarge {
                path: path.to_owned(),
                size,
            });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Self::parse_csv(&text, path, frame_rate)
    }

    /// Parses CSV text; `path` names the source in errors.
    pub fn parse_csv(text: &str, path: &Path, frame_rate: f32) -> Result<Self, ClipError> {
        check_frame_rate(frame_rate)?;
        let csv_error = |line: usize, message: String| ClipError::Csv {
            path: path.to_owned(),
            line,
            message,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, line)| (i + 1, line.trim()))
            .filter(|(_, line)| !line.is_empty());
        let Some((_, header)) = lines.next() else {
            return Err(ClipError::Empty {
                path: path.to_owned(),
            });
        };
        let columns: Vec<&str> = header
            .split(',')
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        let mut names = Vec::new();
        let mut picked = Vec::new();
        let mut ignored_columns = Vec::new();
        let time_column = columns
            .iter()
            .position(|column| TIME_COLUMNS.iter().any(|t| t.eq_ignore_ascii_case(column)));
        for (index, column) in columns.iter().enumerate() {
            match arkit_name(column) {
                Some(name) if names.contains(&name.to_owned()) => {
                    return Err(csv_error(1, format!("the column `{column}` appears twice")));
                }
                Some(name) => {
                    names.push(name.to_owned());
                    picked.push(index);
                }
                None if Some(index) == time_column => {}
                None => ignored_columns.push((*column).to_owned()),
            }
        }
        if names.is_empty() {
            return Err(ClipError::NoBlendshapeColumns {
                path: path.to_owned(),
            });
        }
        let mut frames: Vec<Vec<f32>> = Vec::new();
        let mut times = Vec::new();
        for (line, row) in lines {
            if frames.len() == MAX_CLIP_FRAMES {
                return Err(ClipError::TooLong {
                    path: path.to_owned(),
                });
            }
            let fields: Vec<&str> = row.split(',').map(|f| f.trim().trim_matches('"')).collect();
            if fields.len() != columns.len() {
                return Err(csv_error(
                    line,
                    format!("{} fields, the header has {}", fields.len(), columns.len()),
                ));
            }
            let number = |index: usize| {
                fields[index]
                    .parse()
                    .ok()
                    .filter(|v: &f32| v.is_finite())
                    .ok_or_else(|| {
                        let (value, column) = (fields[index], columns[index]);
                        csv_error(
                            line,
                            format!("`{value}` in column {column} is not a finite number"),
                        )
                    })
            };
            let time = match time_column {
                Some(index) => number(index)?,
                None => frames.len() as f32 / frame_rate,
            };
            if times.last().is_some_and(|last| time <= *last) {
                return Err(csv_error(
                    line,
                    format!("the time {time} does not increase"),
                ));
            }
            times.push(time);
            frames.push(
                picked
                    .iter()
                    .map(|&index| number(index))
                    .collect::<Result<_, _>>()?,
            );
        }
        if frames.is_empty() {
            return Err(ClipError::Empty {
                path: path.to_owned(),
            });
        }
        let (low, high) = (0..names.len())
            .map(|k| {
                let mut column: Vec<f32> = frames.iter().map(|row| row[k]).collect();
                column.sort_by(f32::total_cmp);
                let (lo, hi) = CSV_RANGE_PERCENTILES;
                (percentile(&column, lo), percentile(&column, hi))
            })
            .unzip();
        Ok(Self {
            names,
            times,
            frames,
            poses: None,
            low,
            high,
            ignored_columns,
        })
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether the clip has no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Seconds from the first frame to the last.
    pub fn duration(&self) -> f32 {
        match (self.times.first(), self.times.last()) {
            (Some(first), Some(last)) => last - first,
            _ => 0.0,
        }
    }

    /// The coefficients `time` seconds after the first frame, interpolated linearly between
    /// frames; before the start and after the end the first and last frames hold.
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

/// Refuses a frame rate that is not a positive finite number.
pub fn check_frame_rate(frame_rate: f32) -> Result<(), ClipError> {
    if frame_rate.is_finite() && frame_rate > 0.0 {
        Ok(())
    } else {
        Err(ClipError::BadFrameRate(frame_rate))
    }
}

/// The ARKit name a CSV column stands for, ignoring case.
fn arkit_name(column: &str) -> Option<&'static str> {
    ARKIT_BLENDSHAPES
        .iter()
        .copied()
        .find(|name| name.eq_ignore_ascii_case(column))
}

/// The `q`-quantile of sorted values, by linear interpolation.
fn percentile(sorted: &[f32], q: f64) -> f32 {
    let position = q * (sorted.len() - 1) as f64;
    let (below, above) = (position.floor() as usize, position.ceil() as usize);
    let t = (position - below as f64) as f32;
    sorted[below] + t * (sorted[above] - sorted[below])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ExpressionClip, ClipError> {
        ExpressionClip::parse_csv(text, Path::new("clip.csv"), 60.0)
    }

    #[test]
    fn face_capture_columns_are_matched_ignoring_case() {
        let text = "Timecode,BlendShapeCount,EyeBlinkLeft,JawOpen,HeadYaw\n\
                    00:00:00:01.000,2,0.5,0.25,0.1\n\
                    00:00:00:02.000,2,1.0,0.75,0.2\n";
        let clip = parse(text).unwrap();
        assert_eq!(clip.names, ["eyeBlinkLeft", "jawOpen"]);
        assert_eq!(clip.frames, [vec![0.5, 0.25], vec![1.0, 0.75]]);
        assert_eq!(clip.times, [0.0, 1.0 / 60.0]);
        assert_eq!(
            clip.ignored_columns,
            ["Timecode", "BlendShapeCount", "HeadYaw"]
        );
        assert!(clip.poses.is_none());
    }

    #[test]
    fn the_range_leaves_out_outliers() {
        let mut text = String::from("jawOpen\n");
        for i in 0..100 {
            text.push_str(&format!(
                "{}\n",
                if i == 50 { 5.0 } else { i as f32 / 100.0 }
            ));
        }
        let clip = parse(&text).unwrap();
        assert!(clip.low[0] < 0.03, "{}", clip.low[0]);
        assert!(clip.high[0] > 0.9 && clip.high[0] < 1.0, "{}", clip.high[0]);
    }

    #[test]
    fn malformed_csvs_are_refused_with_the_line() {
        let message = |text: &str| parse(text).unwrap_err().to_string();
        assert!(message("time,speed\n1,2\n").contains("no column named after an ARKit"));
        assert!(message("jawOpen,JawOpen\n1,2\n").contains("appears twice"));
        assert!(message("jawOpen\n").contains("holds no frames"));
        assert!(message("").contains("holds no frames"));
        let short = message("jawOpen,eyeBlinkLeft\n0.1,0.2\n0.3\n");
        assert!(
            short.contains("line 3") && short.contains("1 fields"),
            "{short}"
        );
        let nan = message("jawOpen\n0.1\nNaN\n");
        assert!(
            nan.contains("clip.csv") && nan.contains("line 3") && nan.contains("jawOpen"),
            "{nan}"
        );
        assert!(message("JawOpen\nhigh\n").contains("`high` in column JawOpen"));
        let back = message("time,jawOpen\n0.5,0.1\n0.5,0.2\n");
        assert!(
            back.contains("line 3") && back.contains("does not increase"),
            "{back}"
        );
        let rate = ExpressionClip::parse_csv("jawOpen\n1\n", Path::new("c.csv"), 0.0);
        assert!(matches!(rate, Err(ClipError::BadFrameRate(_))));
    }

    #[test]
    fn a_time_column_times_the_rows_and_sampling_interpolates() {
        let clip = parse("Seconds,jawOpen\n1.0,0.0\n1.5,1.0\n3.0,0.5\n").unwrap();
        assert_eq!(clip.times, [1.0, 1.5, 3.0]);
        assert!(clip.ignored_columns.is_empty());
        assert_eq!(clip.duration(), 2.0);
        assert_eq!(clip.sample(-1.0), [0.0]);
        assert_eq!(clip.sample(0.25), [0.5]);
        assert_eq!(clip.sample(1.25), [0.75]);
        assert_eq!(clip.sample(9.0), [0.5]);
    }

    #[test]
    fn unreadable_files_are_named() {
        let error = ExpressionClip::read_csv(Path::new("/nonexistent/clip.csv"), 30.0).unwrap_err();
        assert!(error.to_string().contains("/nonexistent/clip.csv"));
    }
}
