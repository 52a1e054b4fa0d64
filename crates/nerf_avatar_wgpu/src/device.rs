//! A device of its own for the command line and tests; the Bevy plugin passes its
//! `RenderDevice`'s `wgpu::Device` and `wgpu::Queue` instead.

use super::WgpuError;

/// A wgpu device and queue opened on the best available adapter.
#[derive(Debug)]
pub struct WgpuDevice {
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// What the adapter is (name, backend, driver).
    pub info: wgpu::AdapterInfo,
}

impl WgpuDevice {
    /// Opens a device on the default adapter (`WGPU_BACKEND`, `WGPU_ADAPTER_NAME` and
    /// `WGPU_POWER_PREF` select another), with the adapter's own limits so that large models
    /// fit.
    pub fn open() -> Result<Self, WgpuError> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let options = wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::from_env()
                .unwrap_or(wgpu::PowerPreference::HighPerformance),
            force_fallback_adapter: false,
            compatible_surface: None,
        };
        let adapter = pollster::block_on(instance.request_adapter(&options))
            .map_err(|error| WgpuError::NoAdapter(error.to_string()))?;
        let info = adapter.get_info();
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("nerf-avatar"),
            required_limits: adapter.limits(),
            ..Default::default()
        };
        let (device, queue) =
            pollster::block_on(adapter.request_device(&descriptor)).map_err(|error| {
                WgpuError::NoDevice {
                    adapter: info.name.clone(),
                    reason: error.to_string(),
                }
            })?;
        Ok(Self {
            device,
            queue,
            info,
        })
    }

    /// The adapter in words: name, device type and backend.
    pub fn describe(&self) -> String {
        format!(
            "{} ({:?}, {:?}, driver {} {})",
            self.info.name,
            self.info.device_type,
            self.info.backend,
            self.info.driver,
            self.info.driver_info
        )
    }
}
