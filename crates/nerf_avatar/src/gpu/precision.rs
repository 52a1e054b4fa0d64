//! How the big buffers of an avatar are stored on the GPU: f32, or f16 (the K + 1 expression
//! tables, the frame's blended table and the MLP weights), read with WGSL's core
//! `unpack2x16float` from `u32` words of two values, so that no adapter feature
//! (`SHADER_F16`) is needed; everything is computed in f32.

use crate::asset::Avatar;

/// Largest finite f16.
const F16_MAX: f32 = 65_504.0;

/// The storage precision of an avatar's tables and MLP weights on the GPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StoragePrecision {
    /// 32-bit floats, as the CPU reference.
    F32,
    /// 16-bit floats (half the memory and bandwidth), unpacked to f32 in the shaders.
    #[default]
    F16,
}

impl StoragePrecision {
    /// The precision chosen for `avatar` on any adapter: f16, unless a parameter is beyond
    /// f16's range (|v| > 65504), where f32 keeps it.
    pub fn automatic(avatar: &Avatar) -> Self {
        if avatar.params.data.iter().all(|v| v.abs() <= F16_MAX) {
            Self::F16
        } else {
            Self::F32
        }
    }

    /// Bytes of one stored value.
    pub fn value_bytes(self) -> u64 {
        match self {
            Self::F32 => 4,
            Self::F16 => 2,
        }
    }
}

/// `values` as f16 (rounded to nearest), two to a little-endian word as `pack2x16float`
/// packs them (the first in the low half), the last word padded with a zero.
pub fn pack_f16_pairs(values: &[f32]) -> Vec<u32> {
    values
        .chunks(2)
        .map(|pair| {
            let low = half::f16::from_f32(pair[0]).to_bits();
            let high = pair.get(1).map_or(0, |v| half::f16::from_f32(*v).to_bits());
            u32::from(low) | (u32::from(high) << 16)
        })
        .collect()
}

/// Words of two f16 values ([`pack_f16_pairs`]) back to f32.
pub fn unpack_f16_pairs(words: &[u32]) -> Vec<f32> {
    words
        .iter()
        .flat_map(|w| [*w as u16, (*w >> 16) as u16])
        .map(|bits| half::f16::from_bits(bits).to_f32())
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

    #[test]
    fn out_of_range_parameters_keep_f32() {
        let mut avatar = Avatar::new(crate::ModelConfig::tiny(), 1).unwrap();
        assert_eq!(StoragePrecision::automatic(&avatar), StoragePrecision::F16);
        avatar.params.data[3] = 1.0e5;
        assert_eq!(StoragePrecision::automatic(&avatar), StoragePrecision::F32);
    }
}
