//! The font of every text in a report image: DejaVu Sans (an ASCII subset committed under
//! `assets/fonts/`, see `assets/fonts/LICENSE-DejaVu.txt`), registered with plotters once per
//! process, so that drawing text needs no system fonts.

use std::sync::OnceLock;

use plotters::style::FontStyle;

use super::ReportError;

/// The family name the font is registered under (plotters' default sans-serif family).
pub const FONT_FAMILY: &str = "sans-serif";

/// The font file: DejaVu Sans, printable ASCII only.
const FONT: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../assets/fonts/DejaVuSans-ASCII.ttf"
));

/// Whether [`FONT`] was registered with plotters.
static FONT_REGISTERED: OnceLock<bool> = OnceLock::new();

/// Registers the font with plotters (once); fails when the font cannot be parsed.
pub fn register_font() -> Result<(), ReportError> {
    let registered = FONT_REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT).is_ok()
    });
    if *registered {
        Ok(())
    } else {
        Err(ReportError::Plot(
            "the report font cannot be parsed".to_owned(),
        ))
    }
}
