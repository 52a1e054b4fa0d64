//! Quality metrics comparing rendered frames with the ground truth.

pub mod image;
