//! How the big buffers of an avatar are stored on the GPU: f32, or f16 (the K + 1 expression
//! tables, the frame's blended table and the MLP weights), read with WGSL's core
//! `unpack2x16float` from `u32` words of two values, so that no adapter feature
//! (`SHADER_F16`) is needed; everything is computed in f32.

use nerf_avatar::asset::Avatar;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_parameters_keep_f32() {
        let mut avatar = Avatar::new(nerf_avatar::ModelConfig::tiny(), 1).unwrap();
        assert_eq!(StoragePrecision::automatic(&avatar), StoragePrecision::F16);
        avatar.params.data[3] = 1.0e5;
        assert_eq!(StoragePrecision::automatic(&avatar), StoragePrecision::F32);
    }
}
