//! One CUDA device made ready: its context and stream, the kernels of `kernels/` compiled for
//! its architecture (through the PTX cache) and loaded, and memory helpers whose failures are
//! [`CudaError`]s (out of memory named as such).

use std::collections::HashMap;
use std::sync::Arc;

use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, CudaView, DevicePtr, DevicePtrMut,
    DeviceRepr, DriverError, LaunchConfig, PinnedHostSlice, SyncOnDrop, ValidAsZeroBits,
    sys::cudaError_enum,
};
use cudarc::nvrtc::Ptx;

use super::CudaError;
use super::kernels::{Arch, KERNEL_SOURCES, PtxCache};
use super::libraries::driver_present;

/// Every kernel the host launches, with the file that defines it.
pub const KERNEL_FUNCTIONS: &[(&str, &str)] = &[
    ("blend", "blend_tables"),
    ("blend", "blend_tables_backward"),
    ("blend", "blend_tables_f16"),
    ("hashgrid", "encode_points"),
    ("hashgrid", "encode_backward_points"),
    ("mlp", "mlp_forward_layer"),
    ("mlp", "relu_backward"),
    ("mlp", "mlp_backward_layer_input"),
    ("mlp", "mlp_backward_layer_weights"),
    ("sh", "sh_encode"),
    ("field", "field_color_input"),
    ("field", "field_rgb"),
    ("field", "field_rgb_backward"),
    ("field", "field_density_backward"),
    ("field", "density_max"),
    ("field_fp16", "field_forward_fused"),
    ("composite", "composite"),
    ("composite", "composite_backward"),
    ("march", "march_count"),
    ("march", "march_write"),
    ("render", "render_init"),
    ("render", "render_march"),
    ("render", "render_composite"),
    ("render", "render_finish"),
    ("render", "pack_rgba8"),
    ("occupancy", "max_pool_2"),
    ("occupancy", "occupancy_merge"),
    ("occupancy", "occupancy_bitfield"),
    ("adam", "adam_step"),
    ("loss", "ray_loss"),
    ("loss", "sparsity_loss"),
    ("loss", "count_nonfinite"),
    ("lpips", "lpips_scale_input"),
    ("lpips", "lpips_scale_input_backward"),
    ("lpips", "lpips_im2col"),
    ("lpips", "lpips_col2im"),
    ("lpips", "lpips_max_pool"),
    ("lpips", "lpips_max_pool_backward"),
    ("lpips", "lpips_compare"),
    ("mlp_fp16", "mlp_layer_fp16"),
    ("mlp_fp16", "max_abs"),
    ("mlp_fp16", "mlp_forward_fused"),
    ("mlp_fp16", "mlp_backward_fused"),
    ("roofline", "tensor_rate"),
];

/// Threads per block of the one-dimensional kernels (the reductions in `occupancy.cu` and
/// `loss.cu` size their shared arrays for it).
pub const BLOCK: u32 = 256;

/// A CUDA device with the project's kernels loaded.
pub struct CudaDevice {
    context: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    arch: Arch,
    name: String,
    functions: HashMap<&'static str, CudaFunction>,
}

impl std::fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaDevice")
            .field("name", &self.name)
            .field("arch", &self.arch)
            .finish_non_exhaustive()
    }
}

/// Maps a driver error to a [`CudaError`], naming what was being done.
pub fn driver_error(context: impl std::fmt::Display) -> impl Fn(DriverError) -> CudaError {
    move |e| match e.0 {
        cudaError_enum::CUDA_ERROR_OUT_OF_MEMORY => CudaError::OutOfMemory(context.to_string()),
        cudaError_enum::CUDA_ERROR_NO_DEVICE => CudaError::NoDevice(format!("{e:?}")),
        _ => CudaError::Driver {
            context: context.to_string(),
            message: format!("{e:?}"),
        },
    }
}

/// `bytes` in MiB, for messages.
fn mebibytes(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

impl CudaDevice {
    /// Opens device `ordinal` and loads every kernel, compiled for its architecture (or read
    /// from `cache`). Each failure is a clear error: no driver, no device, NVRTC missing, a
    /// kernel that does not compile, out of memory.
    pub fn open(ordinal: usize, cache: &PtxCache) -> Result<Self, CudaError> {
        if !driver_present() {
            return Err(CudaError::NoDriver);
        }
        let count = CudaContext::device_count()
            .map_err(|e| CudaError::NoDevice(format!("the driver found none ({e:?})")))?;
        if count <= 0 {
            return Err(CudaError::NoDevice("the driver reports 0 devices".into()));
        }
        if ordinal >= count as usize {
            return Err(CudaError::NoDevice(format!(
                "device {ordinal} asked for, the driver reports {count}"
            )));
        }
        let context = CudaContext::new(ordinal).map_err(driver_error("creating a context"))?;
        let (major, minor) = context
            .compute_capability()
            .map_err(driver_error("reading the compute capability"))?;
        let arch = Arch {
            major: major as u32,
            minor: minor as u32,
        };
        let name = context.name().unwrap_or_else(|_| "unnamed GPU".into());
        let stream = context.default_stream();
        let mut functions = HashMap::new();
        for source in KERNEL_SOURCES {
            let ptx = cache.ptx(&source, arch)?;
            let module = context
                .load_module(Ptx::from_src(ptx))
                .map_err(driver_error("loading a kernel module"))?;
            for (file, function) in KERNEL_FUNCTIONS {
                if *file == source.name {
                    let loaded = module
                        .load_function(function)
                        .map_err(driver_error("loading a kernel"))?;
                    functions.insert(*function, loaded);
                }
            }
        }
        Ok(Self {
            context,
            stream,
            arch,
            name,
            functions,
        })
    }

    /// The device's name, e.g. "NVIDIA H100 80GB HBM3".
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The architecture the kernels were compiled for.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// The stream every operation runs on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// The context.
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.context
    }

    /// A loaded kernel.
    pub fn function(&self, name: &str) -> Result<&CudaFunction, CudaError> {
        self.functions.get(name).ok_or_else(|| CudaError::Driver {
            context: "looking up a kernel".into(),
            message: format!("kernel `{name}` is not loaded (missing from KERNEL_FUNCTIONS)"),
        })
    }

    /// A copy of `data` on the device (one zero value when `data` is empty: the driver
    /// allocates nothing of size 0).
    pub fn upload<T: DeviceRepr + ValidAsZeroBits>(
        &self,
        data: &[T],
    ) -> Result<CudaSlice<T>, CudaError> {
        if data.is_empty() {
            return self.zeros(1);
        }
        self.stream.clone_htod(data).map_err(|e| {
            let bytes = mebibytes(size_of_val(data));
            self.allocation_error(e, format!("copying {bytes} to the GPU"))
        })
    }

    /// `len` zeros on the device.
    pub fn zeros<T: DeviceRepr + ValidAsZeroBits>(
        &self,
        len: usize,
    ) -> Result<CudaSlice<T>, CudaError> {
        let len = len.max(1);
        self.stream.alloc_zeros(len).map_err(|e| {
            let bytes = mebibytes(len * size_of::<T>());
            self.allocation_error(e, format!("allocating {bytes}"))
        })
    }

    /// The [`CudaError`] of `error`, met while `doing` (which allocates), saying how much of
    /// its memory the GPU had free.
    fn allocation_error(&self, error: DriverError, doing: String) -> CudaError {
        let free = match self.context.mem_get_info() {
            Ok((free, total)) => format!(" ({} of {} free)", mebibytes(free), mebibytes(total)),
            Err(_) => String::new(),
        };
        driver_error(format!("{doing}{free}"))(error)
    }

    /// Overwrites `slice` with zeros.
    pub fn clear<T: DeviceRepr + ValidAsZeroBits>(
        &self,
        slice: &mut CudaSlice<T>,
    ) -> Result<(), CudaError> {
        self.stream
            .memset_zeros(slice)
            .map_err(driver_error("clearing GPU memory"))
    }

    /// Overwrites the start of `slice` with `data`.
    pub fn write<T: DeviceRepr>(
        &self,
        data: &[T],
        slice: &mut CudaSlice<T>,
    ) -> Result<(), CudaError> {
        if data.len() > slice.len() {
            return Err(CudaError::Unsupported(format!(
                "{} values written into a GPU buffer of {}",
                data.len(),
                slice.len()
            )));
        }
        let mut view = slice.slice_mut(..data.len());
        self.stream
            .memcpy_htod(data, &mut view)
            .map_err(driver_error("copying to the GPU"))
    }

    /// The first `len` values of `slice`, copied to the host (waits for the stream).
    pub fn download<T: DeviceRepr + Default + Clone>(
        &self,
        slice: &CudaSlice<T>,
        len: usize,
    ) -> Result<Vec<T>, CudaError> {
        self.download_view(&slice.slice(..len.min(slice.len())))
    }

    /// `buffer` as a kernel argument the kernel may go without (it reads it): see
    /// [`NullableBuffer`].
    pub fn nullable<'a, T>(&'a self, buffer: Option<&'a CudaSlice<T>>) -> NullableBuffer<'a> {
        NullableBuffer::new(buffer.map(|buffer| buffer.device_ptr(&self.stream)))
    }

    /// [`Self::nullable`] for a buffer the kernel writes.
    pub fn nullable_mut<'a, T>(
        &'a self,
        buffer: Option<&'a mut CudaSlice<T>>,
    ) -> NullableBuffer<'a> {
        NullableBuffer::new(buffer.map(|buffer| buffer.device_ptr_mut(&self.stream)))
    }

    /// `len` zeros in page-locked host memory: a copy into it from the device is asynchronous,
    /// and reading it waits for that copy alone, not for the whole stream.
    pub fn pinned_zeros<T: DeviceRepr + ValidAsZeroBits + Default + Clone>(
        &self,
        len: usize,
    ) -> Result<PinnedHostSlice<T>, CudaError> {
        // SAFETY: the memory is filled before anything reads it.
        let mut pinned = unsafe { self.context.alloc_pinned_with_flags::<T>(len, 0) }
            .map_err(driver_error("allocating page-locked host memory"))?;
        pinned
            .as_mut_slice()
            .map_err(driver_error("allocating page-locked host memory"))?
            .fill(T::default());
        Ok(pinned)
    }

    /// Every value of `view`, copied to the host.
    pub fn download_view<T: DeviceRepr + Default + Clone>(
        &self,
        view: &CudaView<'_, T>,
    ) -> Result<Vec<T>, CudaError> {
        let mut out = vec![T::default(); view.len()];
        self.stream
            .memcpy_dtoh(view, &mut out)
            .map_err(driver_error("copying from the GPU"))?;
        Ok(out)
    }

    /// Waits until everything queued on the stream is done.
    pub fn synchronize(&self) -> Result<(), CudaError> {
        self.stream
            .synchronize()
            .map_err(driver_error("waiting for the GPU"))
    }
}

/// A buffer argument a kernel may go without: pass `&address` (the buffer's device address,
/// or 0, which the kernel reads as a null pointer) to `launch!` while this lives. Dropped
/// after the launch, it records the buffer's use on the stream, as a buffer argument does.
pub struct NullableBuffer<'a> {
    /// The kernel argument.
    pub address: u64,
    _used: Option<SyncOnDrop<'a>>,
}

impl<'a> NullableBuffer<'a> {
    /// The argument of a buffer's device address and use record, or of none.
    fn new(pointer: Option<(u64, SyncOnDrop<'a>)>) -> Self {
        match pointer {
            Some((address, used)) => Self {
                address,
                _used: Some(used),
            },
            None => Self {
                address: 0,
                _used: None,
            },
        }
    }
}

/// A one-dimensional launch of `n` threads in blocks of [`BLOCK`].
pub fn grid_1d(n: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: ((n as u64).div_ceil(u64::from(BLOCK)).max(1) as u32, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Launches kernel `$name` on `$device`'s stream with `$config` and the given arguments
/// (references to device buffers or to scalars bound to locals), as a `Result<(), CudaError>`.
macro_rules! launch {
    ($device:expr, $name:literal, $config:expr, $($arg:expr),* $(,)?) => {{
        use cudarc::driver::PushKernelArg as _;
        let device: &$crate::device::CudaDevice = $device;
        let function = device.function($name)?;
        let mut builder = device.stream().launch_builder(function);
        $(builder.arg($arg);)*
        // SAFETY: the arguments follow the kernel's signature in kernels/ (the twin is
        // reviewed with it and checked by the conformance tests) and every buffer is sized by
        // the caller for the launch's index range.
        unsafe { builder.launch($config) }
            .map(|_| ())
            .map_err($crate::device::driver_error(concat!("running ", $name)))
    }};
}
pub(crate) use launch;
