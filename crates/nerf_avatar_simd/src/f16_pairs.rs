//! Values stored as f16 two to a 32-bit word, the first in the low half (WGSL's
//! `pack2x16float`, CUDA's `cvt.rn.f16x2.f32`): how the GPU renderers keep tables and weights
//! at half the bytes. Rounding is to nearest, ties to even.

use half::f16;

/// Two values as one f16 pair, `lo` in the low half.
pub fn f16_pair(lo: f32, hi: f32) -> u32 {
    u32::from(f16::from_f32(lo).to_bits()) | (u32::from(f16::from_f32(hi).to_bits()) << 16)
}

/// `values` as f16 pairs, the last word padded with a zero.
pub fn pack_f16_pairs(values: &[f32]) -> Vec<u32> {
    values
        .chunks(2)
        .map(|pair| f16_pair(pair[0], pair.get(1).copied().unwrap_or(0.0)))
        .collect()
}

/// Words of two f16 values ([`pack_f16_pairs`]) back to f32.
pub fn unpack_f16_pairs(words: &[u32]) -> Vec<f32> {
    words
        .iter()
        .flat_map(|w| [*w as u16, (*w >> 16) as u16])
        .map(|bits| f16::from_bits(bits).to_f32())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_through_f16() {
        let values = [1.0, -0.5, 3.0e-3, 65504.0, 0.1];
        let words = pack_f16_pairs(&values);
        assert_eq!(words.len(), 3);
        assert_eq!(words[0], 0xb800_3c00);
        let back = unpack_f16_pairs(&words);
        assert_eq!(back.len(), 6);
        for (a, b) in values.iter().zip(&back) {
            assert!((a - b).abs() <= a.abs() / 1024.0, "{a} vs {b}");
        }
        assert_eq!(back[5], 0.0);
    }
}
