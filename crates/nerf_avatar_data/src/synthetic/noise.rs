//! Deterministic lattice value noise for the procedural textures: integer hashing only, so
//! every platform gives the same bits.

use super::sdf::Vec3;

/// A hash of a lattice point to [0, 1).
fn lattice_value(x: i32, y: i32, z: i32, channel: u32) -> f32 {
    let mut h = (x as u32)
        .wrapping_mul(0x8da6_b343)
        .wrapping_add((y as u32).wrapping_mul(0xd816_3841))
        .wrapping_add((z as u32).wrapping_mul(0xcb1a_b31f))
        .wrapping_add(channel.wrapping_mul(0x2545_f491));
    h ^= h >> 15;
    h = h.wrapping_mul(0x2c1b_3c6d);
    h ^= h >> 12;
    h = h.wrapping_mul(0x297a_2d39);
    h ^= h >> 15;
    (h >> 8) as f32 / (1u32 << 24) as f32
}

/// Smoothly interpolated value noise in [0, 1) with unit lattice spacing; `channel` picks
/// an independent pattern.
pub(crate) fn value_noise(p: Vec3, channel: u32) -> f32 {
    let cell = p.map(f32::floor);
    let [ix, iy, iz] = cell.map(|c| c as i32);
    let f = [0, 1, 2].map(|i| {
        let t = p[i] - cell[i];
        t * t * (3.0 - 2.0 * t)
    });
    let lerp = |a: f32, b: f32, t: f32| a + (b - a) * t;
    let v = |dx: i32, dy: i32, dz: i32| lattice_value(ix + dx, iy + dy, iz + dz, channel);
    let x00 = lerp(v(0, 0, 0), v(1, 0, 0), f[0]);
    let x10 = lerp(v(0, 1, 0), v(1, 1, 0), f[0]);
    let x01 = lerp(v(0, 0, 1), v(1, 0, 1), f[0]);
    let x11 = lerp(v(0, 1, 1), v(1, 1, 1), f[0]);
    lerp(lerp(x00, x10, f[1]), lerp(x01, x11, f[1]), f[2])
}

/// Fractal sum of `octaves` value-noise octaves at `frequency` cycles per metre, each twice
/// the frequency and half the weight of the previous one; the result is in [0, 1).
pub(crate) fn fractal_noise(p: Vec3, frequency: f32, octaves: u32, channel: u32) -> f32 {
    let (mut sum, mut weight, mut total, mut f) = (0.0, 1.0, 0.0, frequency);
    for octave in 0..octaves {
        sum += weight * value_noise(p.map(|c| c * f), channel.wrapping_add(octave));
        total += weight;
        weight *= 0.5;
        f *= 2.0;
    }
    sum / total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_bounded_and_interpolates_the_lattice() {
        for i in 0..1000 {
            let p = [i as f32 * 0.37, i as f32 * -0.11, i as f32 * 0.05];
            let n = value_noise(p, 3);
            assert!((0.0..1.0).contains(&n));
        }
        assert_eq!(value_noise([2.0, -3.0, 5.0], 1), lattice_value(2, -3, 5, 1));
    }
}
