//! Real spherical harmonics up to degree 4 (16 values) of a unit view direction, with
//! tiny-cuda-nn's formulas and signs.

use crate::real::Real;

/// Number of SH values for degree 4.
pub const SH_COEFFICIENTS: usize = 16;

/// The 16 degree-4 SH basis values of the unit direction `d`.
pub fn sh_encode<R: Real>(d: [R; 3]) -> [R; SH_COEFFICIENTS] {
    let c = R::of;
    let [x, y, z] = d;
    let (xy, xz, yz) = (x * y, x * z, y * z);
    let (x2, y2, z2) = (x * x, y * y, z * z);
    [
        c(0.282_094_791_773_878_14),
        c(-0.488_602_511_902_919_87) * y,
        c(0.488_602_511_902_919_87) * z,
        c(-0.488_602_511_902_919_87) * x,
        c(1.092_548_430_592_079_2) * xy,
        c(-1.092_548_430_592_079_2) * yz,
        c(0.946_174_695_757_56) * z2 - c(0.315_391_565_252_52),
        c(-1.092_548_430_592_079_2) * xz,
        c(0.546_274_215_296_039_6) * x2 - c(0.546_274_215_296_039_6) * y2,
        c(0.590_043_589_926_643_5) * y * (c(-3.0) * x2 + y2),
        c(2.890_611_442_640_554) * xy * z,
        c(0.457_045_799_464_465_7) * y * (c(1.0) - c(5.0) * z2),
        c(0.373_176_332_590_115_4) * z * (c(5.0) * z2 - c(3.0)),
        c(0.457_045_799_464_465_7) * x * (c(1.0) - c(5.0) * z2),
        c(1.445_305_721_320_277) * z * (x2 - y2),
        c(0.590_043_589_926_643_5) * x * (-x2 + c(3.0) * y2),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Monte-Carlo check that the basis is orthonormal over the sphere.
    #[test]
    fn basis_is_orthonormal() {
        let n = 200_000;
        let mut gram = [[0.0f64; 16]; 16];
        let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
        for i in 0..n {
            let z = 1.0 - 2.0 * (i as f64 + 0.5) / n as f64;
            let r = (1.0 - z * z).sqrt();
            let phi = golden * i as f64;
            let sh = sh_encode([r * phi.cos(), r * phi.sin(), z]);
            for a in 0..16 {
                for b in 0..16 {
                    gram[a][b] += sh[a] * sh[b] * 4.0 * std::f64::consts::PI / n as f64;
                }
            }
        }
        for (a, row) in gram.iter().enumerate() {
            for (b, v) in row.iter().enumerate() {
                let expected = if a == b { 1.0 } else { 0.0 };
                assert!((v - expected).abs() < 1e-3, "({a},{b}) = {v}");
            }
        }
    }
}
