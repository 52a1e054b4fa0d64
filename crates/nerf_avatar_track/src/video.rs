//! Frames of a video (decoded by ffmpeg as raw RGB) or of a folder of PNG/JPEG images.

use std::fs;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use image::RgbImage;

use crate::error::TrackError;

/// Decodes a video (or reads a folder of images) into RGB frames, one at a time.
#[derive(Debug)]
pub struct VideoDecoder {
    path: PathBuf,
    width: u32,
    height: u32,
    remaining: usize,
    next_index: u64,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Video { child: Child, stdout: ChildStdout },
    Folder { files: Vec<PathBuf> },
}

impl VideoDecoder {
    /// Opens a video file or a folder of frames (sorted by file name), reading at most
    /// `max_frames` frames.
    pub fn open(path: &Path, max_frames: Option<usize>) -> Result<Self, TrackError> {
        let unreadable = |error| TrackError::Unreadable {
            path: path.to_owned(),
            error,
        };
        let metadata = fs::metadata(path).map_err(unreadable)?;
        let remaining = max_frames.unwrap_or(usize::MAX);
        if metadata.is_dir() {
            return Self::open_folder(path, remaining);
        }
        fs::File::open(path).map_err(unreadable)?;
        let (width, height) = probe(path)?;
        let mut command = Command::new("ffmpeg");
        command
            .args(["-v", "error", "-nostdin", "-noautorotate", "-i"])
            .arg(path);
        if let Some(limit) = max_frames {
            command.args(["-frames:v", &limit.to_string()]);
        }
        command.args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| TrackError::FfmpegMissing {
                program: "ffmpeg",
                path: path.to_owned(),
                error,
            })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| TrackError::CorruptVideo {
                path: path.to_owned(),
                message: "ffmpeg gave no output stream".to_owned(),
            })?;
        Ok(Self {
            path: path.to_owned(),
            width,
            height,
            remaining,
            next_index: 0,
            kind: Kind::Video { child, stdout },
        })
    }

    fn open_folder(path: &Path, remaining: usize) -> Result<Self, TrackError> {
        let unreadable = |error| TrackError::Unreadable {
            path: path.to_owned(),
            error,
        };
        let mut files = Vec::new();
        for entry in fs::read_dir(path).map_err(unreadable)? {
            let file = entry.map_err(unreadable)?.path();
            let extension = file
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            if matches!(extension.as_deref(), Some("png" | "jpg" | "jpeg")) {
                files.push(file);
            }
        }
        files.sort();
        let first = files.first().ok_or_else(|| TrackError::NoFrames {
            path: path.to_owned(),
        })?;
        let (width, height) =
            image::image_dimensions(first).map_err(|error| TrackError::FrameImage {
                path: first.clone(),
                error,
            })?;
        files.reverse();
        Ok(Self {
            path: path.to_owned(),
            width,
            height,
            remaining,
            next_index: 0,
            kind: Kind::Folder { files },
        })
    }

    /// The input path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frame width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Frame height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The next frame and its index in the source, or `None` at the end.
    pub fn next_frame(&mut self) -> Result<Option<(u64, RgbImage)>, TrackError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let frame = match &mut self.kind {
            Kind::Folder { files } => match files.pop() {
                Some(file) => Some(read_image(&file, self.width, self.height)?),
                None => None,
            },
            Kind::Video { stdout, .. } => {
                let mut buffer = vec![0u8; self.width as usize * self.height as usize * 3];
                match stdout.read_exact(&mut buffer) {
                    Ok(()) => RgbImage::from_raw(self.width, self.height, buffer),
                    Err(e) if e.kind() == ErrorKind::UnexpectedEof => None,
                    Err(error) => {
                        return Err(TrackError::Unreadable {
                            path: self.path.clone(),
                            error,
                        });
                    }
                }
            }
        };
        let Some(frame) = frame else {
            self.finish()?;
            return Ok(None);
        };
        self.remaining -= 1;
        let index = self.next_index;
        self.next_index += 1;
        Ok(Some((index, frame)))
    }

    /// Waits for ffmpeg; a failure with no frame decoded means a corrupt file.
    fn finish(&mut self) -> Result<(), TrackError> {
        self.remaining = 0;
        let Kind::Video { child, .. } = &mut self.kind else {
            return Ok(());
        };
        let mut message = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            // The message is only a diagnostic; an unreadable one is left empty.
            stderr.read_to_string(&mut message).ok();
        }
        let status = child.wait().map_err(|error| TrackError::Unreadable {
            path: self.path.clone(),
            error,
        })?;
        if !status.success() && self.next_index == 0 {
            return Err(TrackError::CorruptVideo {
                path: self.path.clone(),
                message: first_line(&message, "ffmpeg failed"),
            });
        }
        Ok(())
    }
}

impl Drop for VideoDecoder {
    fn drop(&mut self) {
        if let Kind::Video { child, .. } = &mut self.kind {
            // Stop a decoder that is still running (frames left unread); it may have ended.
            child.kill().ok();
            child.wait().ok();
        }
    }
}

fn read_image(file: &Path, width: u32, height: u32) -> Result<RgbImage, TrackError> {
    let image = image::ImageReader::open(file)
        .and_then(|r| r.with_guessed_format())
        .map_err(|error| TrackError::Unreadable {
            path: file.to_owned(),
            error,
        })?
        .decode()
        .map_err(|error| TrackError::FrameImage {
            path: file.to_owned(),
            error,
        })?
        .to_rgb8();
    if image.dimensions() != (width, height) {
        return Err(TrackError::FrameSize {
            path: file.to_owned(),
            width,
            height,
            found_width: image.width(),
            found_height: image.height(),
        });
    }
    Ok(image)
}

/// The size of the first video stream, from ffprobe.
fn probe(path: &Path) -> Result<(u32, u32), TrackError> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["stream=width,height", "-of", "csv=p=0"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| TrackError::FfmpegMissing {
            program: "ffprobe",
            path: path.to_owned(),
            error,
        })?;
    if !output.status.success() {
        return Err(TrackError::CorruptVideo {
            path: path.to_owned(),
            message: first_line(&String::from_utf8_lossy(&output.stderr), "ffprobe failed"),
        });
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut numbers = text.trim().split(',').map(|n| n.trim().parse::<u32>());
    match (numbers.next(), numbers.next()) {
        (Some(Ok(width)), Some(Ok(height))) if width > 0 && height > 0 => Ok((width, height)),
        _ => Err(TrackError::NoFrames {
            path: path.to_owned(),
        }),
    }
}

fn first_line(message: &str, fallback: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or(fallback)
        .to_owned()
}
