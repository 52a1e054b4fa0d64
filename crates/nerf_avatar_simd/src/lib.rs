//! `nerf_avatar_simd`: the CPU kernels that the model, LPIPS and the tracker share: dense
//! layers and convolutions on register tiles with run-time instruction-set dispatch
//! ([`tiles`]), and half-precision values packed two to a word ([`f16_pairs`]).

pub mod f16_pairs;
pub mod tiles;
