//! `nerf_avatar_eval`: how good an avatar is. Quality metrics comparing rendered frames with
//! the ground truth (PSNR, SSIM, LPIPS: [`metrics`]) and the reports made of them: comparison
//! grids, training curves, Markdown summaries and expression contact sheets ([`report`]).

pub mod metrics;
pub mod report;
