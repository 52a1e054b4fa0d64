//! Evaluation reports: a side-by-side comparison grid ([`grid`]), a plot of a training
//! curve ([`curve`]), a short Markdown summary ([`markdown`]) and the contact sheet of an
//! avatar's expression controls ([`sheet`]).

pub mod curve;
pub mod font;
pub mod grid;
pub mod markdown;
pub mod sheet;

use std::path::{Path, PathBuf};

use image::RgbImage;

pub use curve::{training_curve_image, write_training_curve};
pub use grid::ComparisonGrid;
pub use markdown::{MeanStd, MetricRow, Report};
pub use sheet::{ExpressionSheet, SheetTile, expression_sheet};

/// Why a report image or document could not be made or written.
///
/// Every message is complete on its own (it includes the text of the error it wraps), so
/// the variants expose no `source` chain that would repeat it.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// An image does not have the grid's size.
    #[error("image is {found_width}×{found_height}, the grid holds {width}×{height} images")]
    ImageSize {
        /// The grid's image width.
        width: usize,
        /// The grid's image height.
        height: usize,
        /// Width given.
        found_width: usize,
        /// Height given.
        found_height: usize,
    },
    /// The avatar has no named expression controls to show.
    #[error("the avatar has no expression controls")]
    NoControls,
    /// The preview camera cannot be made.
    #[error(transparent)]
    View(#[from] nerf_avatar::portrait::PortraitError),
    /// A render failed.
    #[error(transparent)]
    Render(#[from] nerf_avatar::renderer::RenderError),
    /// The training curve has no point with a finite step, loss or PSNR.
    #[error("the training curve has no finite points")]
    EmptyCurve,
    /// Drawing the plot failed.
    #[error("drawing the plot: {0}")]
    Plot(String),
    /// Writing a PNG failed.
    #[error("{}: {error}", file.display())]
    Image {
        /// The file.
        file: PathBuf,
        /// The cause.
        error: image::ImageError,
    },
    /// Writing a file failed.
    #[error("{}: {error}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The cause.
        error: std::io::Error,
    },
}

/// Writes an RGB image as PNG.
pub fn write_png(image: &RgbImage, png: &Path) -> Result<(), ReportError> {
    image.save(png).map_err(|error| ReportError::Image {
        file: png.to_owned(),
        error,
    })
}

/// A plotters drawing error as a report error.
fn plot_error(error: impl std::fmt::Display) -> ReportError {
    ReportError::Plot(error.to_string())
}
