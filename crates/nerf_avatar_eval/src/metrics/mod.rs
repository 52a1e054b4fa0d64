//! Quality metrics comparing rendered frames with the ground truth: PSNR, MSE, L1 and SSIM
//! ([`image`]) and LPIPS v0.1 ([`lpips`]).

pub mod image;
pub mod lpips;
