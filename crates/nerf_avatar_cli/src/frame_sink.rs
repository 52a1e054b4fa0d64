//! Where rendered frame sequences go: a folder of numbered PNGs, or a video file encoded by
//! ffmpeg (H.264, yuv420p) from raw RGB frames on its standard input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use anyhow::{Context, bail};
use image::RgbImage;

/// File extensions written as video through ffmpeg.
const VIDEO_EXTENSIONS: [&str; 4] = ["mp4", "mkv", "mov", "webm"];

/// An open frame sequence.
pub enum FrameSink {
    /// Numbered PNGs in a folder.
    Pngs {
        /// The folder.
        folder: PathBuf,
        /// Frames written so far.
        written: usize,
    },
    /// An ffmpeg process encoding the frames.
    Video {
        /// The output file.
        path: PathBuf,
        /// The encoder.
        child: Child,
        /// Its standard input, taking raw RGB frames.
        input: ChildStdin,
        /// Frame size the encoder was started with.
        size: (u32, u32),
    },
}

impl FrameSink {
    /// Opens `out`: a video file when its extension is a video container's (frames of
    /// `size` at `fps`), a folder of PNGs otherwise (created if missing).
    pub fn open(out: &Path, size: (u32, u32), fps: f32) -> anyhow::Result<Self> {
        let is_video = out
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
        if !is_video {
            std::fs::create_dir_all(out)
                .with_context(|| format!("creating the frame folder {}", out.display()))?;
            return Ok(Self::Pngs {
                folder: out.to_owned(),
                written: 0,
            });
        }
        let (width, height) = size;
        let mut child = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo"])
            .args(["-pix_fmt", "rgb24", "-s", &format!("{width}x{height}")])
            .args(["-r", &fps.to_string(), "-i", "-"])
            .args(["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"])
            .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
            .arg(out)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| {
                format!(
                    "writing {} needs ffmpeg on the PATH (Debian: apt-get install ffmpeg); \
                     give a folder instead to write PNG frames",
                    out.display()
                )
            })?;
        let Some(input) = child.stdin.take() else {
            bail!("ffmpeg started without a standard input");
        };
        Ok(Self::Video {
            path: out.to_owned(),
            child,
            input,
            size,
        })
    }

    /// Appends a frame.
    pub fn push(&mut self, frame: &RgbImage) -> anyhow::Result<()> {
        match self {
            Self::Pngs { folder, written } => {
                let path = folder.join(format!("frame_{:05}.png", *written));
                frame
                    .save(&path)
                    .with_context(|| format!("writing {}", path.display()))?;
                *written += 1;
            }
            Self::Video {
                path, input, size, ..
            } => {
                if frame.dimensions() != *size {
                    bail!(
                        "a {}×{} frame for a {}×{} video",
                        frame.width(),
                        frame.height(),
                        size.0,
                        size.1
                    );
                }
                input.write_all(frame.as_raw()).with_context(|| {
                    format!("ffmpeg stopped taking frames for {}", path.display())
                })?;
            }
        }
        Ok(())
    }

    /// Finishes the sequence (waits for the encoder).
    pub fn finish(self) -> anyhow::Result<()> {
        if let Self::Video {
            path,
            mut child,
            input,
            ..
        } = self
        {
            drop(input);
            let status = child.wait().context("waiting for ffmpeg")?;
            if !status.success() {
                bail!("ffmpeg failed to write {} ({status})", path.display());
            }
        }
        Ok(())
    }
}
