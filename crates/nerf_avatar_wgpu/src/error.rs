//! Why the GPU renderer could not run.

/// An error of the GPU renderer.
#[derive(Debug, thiserror::Error)]
pub enum WgpuError {
    /// No adapter (GPU or software rasteriser) is available.
    #[error(
        "no GPU adapter is available ({0}); install a Vulkan, Metal or DX12 driver (lavapipe: mesa-vulkan-drivers) or use the CPU backend"
    )]
    NoAdapter(String),
    /// The adapter refused to open a device.
    #[error("the GPU adapter `{adapter}` could not open a device: {reason}")]
    NoDevice {
        /// The adapter's name.
        adapter: String,
        /// What it said.
        reason: String,
    },
    /// The model does not fit the shaders' fixed limits.
    #[error("the model cannot run on the GPU renderer: {0}")]
    Unsupported(String),
    /// A buffer would exceed the device's limits.
    #[error("{what} needs {bytes} bytes, more than the device's limit of {limit} bytes")]
    TooLarge {
        /// The buffer.
        what: &'static str,
        /// Its size.
        bytes: u64,
        /// The device's limit.
        limit: u64,
    },
    /// The frame's inputs do not fit the avatar or the target.
    #[error("bad frame: {0}")]
    BadFrame(String),
    /// The device reported an error (validation, out of memory, lost device).
    #[error("the GPU device reported an error: {0}")]
    Device(String),
    /// A rendered pixel was not finite: the render did not write it, or produced NaN.
    #[error("pixel ({x}, {y}) of the GPU render is not finite")]
    UnwrittenPixel {
        /// Column.
        x: u32,
        /// Row.
        y: u32,
    },
}
