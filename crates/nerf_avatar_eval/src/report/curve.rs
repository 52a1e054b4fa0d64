//! The training curve plot: loss (log scale) and PSNR against the optimiser step, in two
//! panels one above the other, with labelled axes.
//!
//! Text is drawn with the report font ([`super::font`]).

use std::ops::Range;
use std::path::Path;

use image::RgbImage;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::font::{FONT_FAMILY, register_font};
use super::{ReportError, plot_error, write_png};
use nerf_avatar::asset::CurvePoint;

/// Size of [`write_training_curve`]'s image in pixels.
pub const CURVE_IMAGE_SIZE: (u32, u32) = (900, 700);

/// Draws the curve at [`CURVE_IMAGE_SIZE`] and writes it as PNG.
pub fn write_training_curve(curve: &[CurvePoint], png: &Path) -> Result<(), ReportError> {
    let (width, height) = CURVE_IMAGE_SIZE;
    write_png(&training_curve_image(curve, width, height)?, png)
}

/// Draws the curve into an image of `width × height` pixels. Points whose step, loss or
/// PSNR is not finite are left out, as are losses ≤ 0 (they have no place on the log scale).
pub fn training_curve_image(
    curve: &[CurvePoint],
    width: u32,
    height: u32,
) -> Result<RgbImage, ReportError> {
    let loss: Vec<(f64, f64)> = curve
        .iter()
        .filter(|p| p.loss.is_finite() && p.loss > 0.0)
        .map(|p| (p.step as f64, p.loss))
        .collect();
    let psnr: Vec<(f64, f64)> = curve
        .iter()
        .filter(|p| p.psnr.is_finite())
        .map(|p| (p.step as f64, p.psnr))
        .collect();
    if loss.is_empty() && psnr.is_empty() {
        return Err(ReportError::EmptyCurve);
    }
    register_font()?;
    let steps = padded_range(loss.iter().chain(&psnr).map(|p| p.0), 0.0);
    let mut buffer = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        let (upper, lower) = root.split_vertically(height / 2);
        let loss_range = padded_range(loss.iter().map(|p| p.1.log10()), 0.05);
        let loss_range = 10f64.powf(loss_range.start)..10f64.powf(loss_range.end);
        draw_panel(
            &upper,
            "Training loss",
            "loss",
            steps.clone(),
            loss_range.log_scale(),
            &|v| format!("{v:.1e}"),
            &loss,
            RED,
        )?;
        let psnr_range = padded_range(psnr.iter().map(|p| p.1), 0.05);
        draw_panel(
            &lower,
            "Training PSNR",
            "PSNR (dB)",
            steps,
            psnr_range,
            &|v| format!("{v:.1}"),
            &psnr,
            BLUE,
        )?;
        root.present().map_err(plot_error)?;
    }
    RgbImage::from_raw(width, height, buffer)
        .ok_or_else(|| ReportError::Plot("the bitmap has the wrong size".to_owned()))
}

/// One panel: a line of `points` on axes labelled with the step and `y_format`.
#[expect(
    clippy::too_many_arguments,
    reason = "one call per panel; the arguments are the panel's description"
)]
fn draw_panel<Y>(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    title: &str,
    y_label: &str,
    steps: Range<f64>,
    y_range: Y,
    y_format: &dyn Fn(&f64) -> String,
    points: &[(f64, f64)],
    colour: RGBColor,
) -> Result<(), ReportError>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT_FAMILY, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(steps, y_range)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc(y_label)
        .x_label_formatter(&|step| format!("{step:.0}"))
        .y_label_formatter(y_format)
        .label_style((FONT_FAMILY, 14))
        .axis_desc_style((FONT_FAMILY, 16))
        .draw()
        .map_err(plot_error)?;
    chart
        .draw_series(LineSeries::new(
            points.iter().copied(),
            colour.stroke_width(2),
        ))
        .map_err(plot_error)?;
    Ok(())
}

/// The range of `values`, widened by `margin` of its span on each side (and to a unit span
/// around a single value); `0..1` when there are none.
fn padded_range(values: impl Iterator<Item = f64>, margin: f64) -> Range<f64> {
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if low > high {
        return 0.0..1.0;
    }
    if high - low < 1e-12 {
        return low - 0.5..high + 0.5;
    }
    let pad = margin * (high - low);
    low - pad..high + pad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(points: usize) -> Vec<CurvePoint> {
        (0..points)
            .map(|i| CurvePoint {
                step: 100 * i as u64,
                seconds: i as f64,
                loss: 0.5 / (1.0 + i as f64),
                psnr: 12.0 + 2.0 * (i as f64).sqrt(),
            })
            .collect()
    }

    #[test]
    fn plot_has_the_requested_size_and_draws_text_and_lines() {
        let image = training_curve_image(&curve(40), 640, 480).unwrap();
        assert_eq!(image.dimensions(), (640, 480));
        let non_white = image.pixels().filter(|p| p.0 != [255; 3]).count();
        assert!(non_white > 2000, "only {non_white} pixels drawn");
        let red = image.pixels().filter(|p| p.0 == [255, 0, 0]).count();
        let blue = image.pixels().filter(|p| p.0 == [0, 0, 255]).count();
        assert!(red > 100 && blue > 100, "red {red}, blue {blue}");
    }

    #[test]
    fn single_points_and_bad_values_are_handled() {
        let mut points = curve(1);
        points.push(CurvePoint {
            step: 5,
            seconds: 1.0,
            loss: f64::NAN,
            psnr: f64::INFINITY,
        });
        let image = training_curve_image(&points, 300, 200).unwrap();
        assert_eq!(image.dimensions(), (300, 200));
        let bad = [CurvePoint {
            loss: -1.0,
            psnr: f64::NAN,
            ..CurvePoint::default()
        }];
        assert!(matches!(
            training_curve_image(&bad, 300, 200),
            Err(ReportError::EmptyCurve)
        ));
        assert!(matches!(
            training_curve_image(&[], 300, 200),
            Err(ReportError::EmptyCurve)
        ));
    }

    #[test]
    fn training_curve_file_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("curve.png");
        write_training_curve(&curve(10), &png).unwrap();
        assert_eq!(image::image_dimensions(&png).unwrap(), CURVE_IMAGE_SIZE);
    }
}
