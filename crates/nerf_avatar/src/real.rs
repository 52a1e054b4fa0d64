//! The scalar type of the CPU backend: `f32` for work, `f64` for finite-difference checks.

use std::fmt::Debug;
use std::iter::Sum;
use std::ops::{AddAssign, MulAssign, SubAssign};

use num_traits::Float;

/// A floating-point scalar the CPU backend can run in, with a matrix product.
pub trait Real:
    Float + AddAssign + SubAssign + MulAssign + Sum + Default + Debug + Send + Sync + 'static
{
    /// Converts from `f64` (rounding to the nearest value).
    fn of(value: f64) -> Self;

    /// A bias-free dense layer on `n` rows: `y (n × outputs) = x (n × inputs) · Wᵀ` for
    /// row-major `weights` (`outputs × inputs`), then ReLU when `relu`.
    fn dense_layer(
        x: &[Self],
        weights: &[Self],
        [n, inputs, outputs]: [usize; 3],
        relu: bool,
        y: &mut [Self],
    ) {
        Self::gemm(
            n,
            inputs,
            outputs,
            Self::one(),
            x,
            (inputs, 1),
            weights,
            (1, inputs),
            Self::zero(),
            y,
            outputs,
        );
        if relu {
            for v in &mut y[..n * outputs] {
                *v = v.max(Self::zero());
            }
        }
    }

    /// `c = alpha · a · b + beta · c` for row-major `c` (m × n, row stride `rsc`), with `a`
    /// (m × k) and `b` (k × n) given by element strides `(row, column)`.
    #[expect(clippy::too_many_arguments, reason = "a BLAS-style matrix product")]
    fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: &[Self],
        a_strides: (usize, usize),
        b: &[Self],
        b_strides: (usize, usize),
        beta: Self,
        c: &mut [Self],
        rsc: usize,
    );
}

/// Asserts that a strided `rows × cols` matrix lies inside a slice of length `len`.
fn assert_inside(len: usize, rows: usize, cols: usize, (rs, cs): (usize, usize)) {
    if rows > 0 && cols > 0 {
        let last = (rows - 1) * rs + (cols - 1) * cs;
        assert!(
            last < len,
            "matrix of {rows}×{cols} runs past its slice of {len}"
        );
    }
}

macro_rules! impl_real {
    ($t:ty, $gemm:path $(, $dense:path)?) => {
        impl Real for $t {
            fn of(value: f64) -> Self {
                value as $t
            }
            $(
                fn dense_layer(
                    x: &[Self],
                    weights: &[Self],
                    sizes: [usize; 3],
                    relu: bool,
                    y: &mut [Self],
                ) {
                    $dense(x, weights, sizes, relu, y);
                }
            )?

            fn gemm(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: &[Self],
                a_strides: (usize, usize),
                b: &[Self],
                b_strides: (usize, usize),
                beta: Self,
                c: &mut [Self],
                rsc: usize,
            ) {
                assert_inside(a.len(), m, k, a_strides);
                assert_inside(b.len(), k, n, b_strides);
                assert_inside(c.len(), m, n, (rsc, 1));
                if m == 0 || n == 0 {
                    return;
                }
                // SAFETY: the three asserts above keep every access inside its slice, and
                // `c` is borrowed mutably so it cannot alias `a` or `b`.
                unsafe {
                    $gemm(
                        m,
                        k,
                        n,
                        alpha,
                        a.as_ptr(),
                        a_strides.0 as isize,
                        a_strides.1 as isize,
                        b.as_ptr(),
                        b_strides.0 as isize,
                        b_strides.1 as isize,
                        beta,
                        c.as_mut_ptr(),
                        rsc as isize,
                        1,
                    );
                }
            }
        }
    };
}

impl_real!(
    f32,
    matrixmultiply::sgemm,
    nerf_avatar_simd::tiles::dense_layer
);
impl_real!(f64, matrixmultiply::dgemm);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_matches_a_naive_product() {
        let (m, k, n) = (3, 4, 2);
        let a: Vec<f64> = (0..m * k).map(|i| i as f64 * 0.5 - 1.0).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64).sin()).collect();
        let mut c = vec![1.0; m * n];
        f64::gemm(m, k, n, 2.0, &a, (k, 1), &b, (n, 1), 0.5, &mut c, n);
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
                assert!((c[i * n + j] - (2.0 * dot + 0.5)).abs() < 1e-12);
            }
        }
    }

    #[test]
    #[should_panic(expected = "runs past")]
    fn gemm_refuses_short_slices() {
        let mut c = vec![0.0f32; 4];
        f32::gemm(
            2,
            2,
            2,
            1.0,
            &[0.0; 3],
            (2, 1),
            &[0.0; 4],
            (2, 1),
            0.0,
            &mut c,
            2,
        );
    }
}
