//! Copying a GPU buffer back to the host (the command line's and the tests' path; the Bevy
//! plugin samples its texture on the GPU instead).

use super::WgpuError;

/// The first `bytes` bytes of `buffer` (which needs `COPY_SRC` usage), after all work
/// submitted so far.
pub fn read_buffer(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    buffer: &wgpu::Buffer,
    bytes: u64,
) -> Result<Vec<u8>, WgpuError> {
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("nerf-avatar readback"),
        size: bytes,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, bytes);
    queue.submit([encoder.finish()]);
    let (sender, receiver) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |result| {
        // The receiver waits below; a failed send only means it has gone.
        let _ = sender.send(result);
    });
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|error| WgpuError::Device(error.to_string()))?;
    receiver
        .recv()
        .map_err(|error| WgpuError::Device(error.to_string()))?
        .map_err(|error| WgpuError::Device(error.to_string()))?;
    let data = staging.get_mapped_range(..).to_vec();
    staging.unmap();
    Ok(data)
}

/// Little-endian bytes read back from the GPU as f32 values.
pub fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
