//! Image quality metrics.

pub mod lpips;
