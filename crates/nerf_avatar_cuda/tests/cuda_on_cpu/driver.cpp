// A stand-in for the NVIDIA driver (`libcuda.so`) that runs kernels on the CPU emulator, so
// that the CUDA backend's host code runs unchanged where no GPU is (cuda_emulated.rs). It
// answers the driver calls cudarc makes: one device of compute capability 9.0, memory in host
// allocations (a device pointer is a host address), streams and events that complete at once,
// and modules whose functions are the kernels compiled as C++ (`register_kernel`, one wrapper
// per kernel file, written by the test). A launch runs the grid on the calling thread before
// it returns; a grid or block beyond an sm_90 GPU's limits is refused, as the GPU would. The PTX a module is loaded from is not read: it only says that NVRTC compiled.
// The device has 16 GiB, or the bytes `NERF_AVATAR_EMULATED_GPU_BYTES` says: an allocation
// beyond them fails as a GPU's does (CUDA_ERROR_OUT_OF_MEMORY).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "cuda_on_cpu.h"

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;

namespace {

constexpr CUresult SUCCESS = 0;
constexpr CUresult INVALID_VALUE = 1;
constexpr CUresult OUT_OF_MEMORY = 2;
constexpr CUresult INVALID_DEVICE = 101;
constexpr CUresult NOT_FOUND = 500;
constexpr CUresult LAUNCH_FAILED = 719;

// Device attributes (CUdevice_attribute) the backend and cudarc ask for.
constexpr int MAX_THREADS_PER_BLOCK = 1;
constexpr int WARP_SIZE = 10;
constexpr int MULTIPROCESSOR_COUNT = 16;
constexpr int COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int COMPUTE_CAPABILITY_MINOR = 76;

using Launcher = void (*)(void** params);

std::map<std::string, Launcher>& kernels() {
    static std::map<std::string, Launcher> registry;
    return registry;
}

// A handle's target: a context, stream, event or module is any non-null address.
char handle_target;

// The device's memory: its size, and the live allocations with their sizes.
struct DeviceMemory {
    std::mutex lock;
    size_t capacity = 0;
    size_t used = 0;
    std::map<CUdeviceptr, size_t> allocations;
};

DeviceMemory& device_memory() {
    static DeviceMemory* memory = [] {
        DeviceMemory* m = new DeviceMemory;
        const char* bytes = std::getenv("NERF_AVATAR_EMULATED_GPU_BYTES");
        m->capacity = bytes ? std::strtoull(bytes, nullptr, 10) : size_t(16) << 30;
        return m;
    }();
    return *memory;
}

struct Launch {
    Launcher launcher;
    void** params;
};

void run_launch(void* data) {
    const Launch* launch = static_cast<const Launch*>(data);
    launch->launcher(launch->params);
}

}  // namespace

extern "C" int emulate_grid(const unsigned grid[3], const unsigned threads[3],
                            void (*body)(void*), void* data);

// Called by the kernel wrappers' static initialisers: `name`'s launcher.
void register_kernel(const char* name, Launcher launcher) { kernels()[name] = launcher; }

extern "C" {

CUresult cuInit(unsigned) { return SUCCESS; }

CUresult cuDriverGetVersion(int* version) {
    *version = 13000;
    return SUCCESS;
}

CUresult cuDeviceGetCount(int* count) {
    *count = 1;
    return SUCCESS;
}

CUresult cuDeviceGet(CUdevice* device, int ordinal) {
    if (ordinal != 0) return INVALID_DEVICE;
    *device = 0;
    return SUCCESS;
}

CUresult cuDeviceGetName(char* name, int length, CUdevice) {
    std::strncpy(name, "CPU emulator of the kernels (no GPU)", (size_t)length);
    if (length > 0) name[length - 1] = '\0';
    return SUCCESS;
}

CUresult cuDeviceGetAttribute(int* value, int attribute, CUdevice) {
    switch (attribute) {
        case MAX_THREADS_PER_BLOCK: *value = 1024; break;
        case WARP_SIZE: *value = 32; break;
        case MULTIPROCESSOR_COUNT: *value = 2; break;
        case COMPUTE_CAPABILITY_MAJOR: *value = 9; break;
        case COMPUTE_CAPABILITY_MINOR: *value = 0; break;
        default: *value = 0;
    }
    return SUCCESS;
}

CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice) {
    *bytes = device_memory().capacity;
    return SUCCESS;
}

CUresult cuMemGetInfo_v2(size_t* free, size_t* total) {
    DeviceMemory& memory = device_memory();
    std::lock_guard<std::mutex> guard(memory.lock);
    *total = memory.capacity;
    *free = memory.capacity - memory.used;
    return SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(void** context, CUdevice) {
    *context = &handle_target;
    return SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease_v2(CUdevice) { return SUCCESS; }
CUresult cuCtxSetCurrent(void*) { return SUCCESS; }

CUresult cuCtxGetCurrent(void** context) {
    *context = &handle_target;
    return SUCCESS;
}

CUresult cuCtxGetDevice(CUdevice* device) {
    *device = 0;
    return SUCCESS;
}

CUresult cuCtxSynchronize() { return SUCCESS; }
CUresult cuCtxPushCurrent_v2(void*) { return SUCCESS; }

CUresult cuCtxPopCurrent_v2(void** context) {
    if (context) *context = &handle_target;
    return SUCCESS;
}

CUresult cuMemAlloc_v2(CUdeviceptr* pointer, size_t bytes) {
    DeviceMemory& memory = device_memory();
    std::lock_guard<std::mutex> guard(memory.lock);
    if (bytes > memory.capacity - memory.used) return OUT_OF_MEMORY;
    void* allocation = std::aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
    if (!allocation) return OUT_OF_MEMORY;
    *pointer = (CUdeviceptr)allocation;
    memory.used += bytes;
    memory.allocations[*pointer] = bytes;
    return SUCCESS;
}

CUresult cuMemAllocAsync(CUdeviceptr* pointer, size_t bytes, void*) {
    return cuMemAlloc_v2(pointer, bytes);
}

CUresult cuMemFree_v2(CUdeviceptr pointer) {
    DeviceMemory& memory = device_memory();
    std::lock_guard<std::mutex> guard(memory.lock);
    auto allocation = memory.allocations.find(pointer);
    if (allocation == memory.allocations.end()) return INVALID_VALUE;
    memory.used -= allocation->second;
    memory.allocations.erase(allocation);
    std::free((void*)pointer);
    return SUCCESS;
}

CUresult cuMemFreeAsync(CUdeviceptr pointer, void*) { return cuMemFree_v2(pointer); }

CUresult cuMemHostAlloc(void** pointer, size_t bytes, unsigned) {
    *pointer = std::aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
    return *pointer ? SUCCESS : OUT_OF_MEMORY;
}

CUresult cuMemAllocHost_v2(void** pointer, size_t bytes) { return cuMemHostAlloc(pointer, bytes, 0); }

CUresult cuMemFreeHost(void* pointer) {
    std::free(pointer);
    return SUCCESS;
}

CUresult cuMemsetD8_v2(CUdeviceptr pointer, unsigned char value, size_t count) {
    std::memset((void*)pointer, value, count);
    return SUCCESS;
}

CUresult cuMemsetD8Async(CUdeviceptr pointer, unsigned char value, size_t count, void*) {
    return cuMemsetD8_v2(pointer, value, count);
}

CUresult cuMemsetD32Async(CUdeviceptr pointer, unsigned value, size_t count, void*) {
    unsigned* words = (unsigned*)pointer;
    for (size_t i = 0; i < count; ++i) words[i] = value;
    return SUCCESS;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr destination, const void* source, size_t bytes) {
    std::memcpy((void*)destination, source, bytes);
    return SUCCESS;
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr destination, const void* source, size_t bytes, void*) {
    return cuMemcpyHtoD_v2(destination, source, bytes);
}

CUresult cuMemcpyDtoH_v2(void* destination, CUdeviceptr source, size_t bytes) {
    std::memcpy(destination, (const void*)source, bytes);
    return SUCCESS;
}

CUresult cuMemcpyDtoHAsync_v2(void* destination, CUdeviceptr source, size_t bytes, void*) {
    return cuMemcpyDtoH_v2(destination, source, bytes);
}

CUresult cuMemcpyDtoD_v2(CUdeviceptr destination, CUdeviceptr source, size_t bytes) {
    std::memmove((void*)destination, (const void*)source, bytes);
    return SUCCESS;
}

CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr destination, CUdeviceptr source, size_t bytes, void*) {
    return cuMemcpyDtoD_v2(destination, source, bytes);
}

CUresult cuStreamCreate(void** stream, unsigned) {
    *stream = &handle_target;
    return SUCCESS;
}

CUresult cuStreamCreateWithPriority(void** stream, unsigned, int) {
    *stream = &handle_target;
    return SUCCESS;
}

CUresult cuStreamDestroy_v2(void*) { return SUCCESS; }
CUresult cuStreamSynchronize(void*) { return SUCCESS; }
CUresult cuStreamQuery(void*) { return SUCCESS; }
CUresult cuStreamWaitEvent(void*, void*, unsigned) { return SUCCESS; }

CUresult cuEventCreate(void** event, unsigned) {
    *event = &handle_target;
    return SUCCESS;
}

CUresult cuEventRecord(void*, void*) { return SUCCESS; }
CUresult cuEventRecordWithFlags(void*, void*, unsigned) { return SUCCESS; }
CUresult cuEventSynchronize(void*) { return SUCCESS; }
CUresult cuEventQuery(void*) { return SUCCESS; }
CUresult cuEventDestroy_v2(void*) { return SUCCESS; }

CUresult cuEventElapsedTime(float* milliseconds, void*, void*) {
    *milliseconds = 0.0f;
    return SUCCESS;
}

CUresult cuModuleLoadData(void** module, const void*) {
    *module = &handle_target;
    return SUCCESS;
}

CUresult cuModuleUnload(void*) { return SUCCESS; }

CUresult cuModuleGetFunction(void** function, void*, const char* name) {
    const auto found = kernels().find(name);
    if (found == kernels().end()) return NOT_FOUND;
    *function = (void*)found->second;
    return SUCCESS;
}

CUresult cuFuncGetAttribute(int* value, int, void*) {
    *value = 0;
    return SUCCESS;
}

CUresult cuFuncSetAttribute(void*, int, int) { return SUCCESS; }

CUresult cuLaunchKernel(void* function, unsigned grid_x, unsigned grid_y, unsigned grid_z,
                        unsigned block_x, unsigned block_y, unsigned block_z, unsigned shared_bytes,
                        void*, void** params, void** extra) {
    if (shared_bytes != 0 || extra != nullptr || !function) return INVALID_VALUE;
    // A GPU of compute capability 9.0 refuses grids and blocks beyond these.
    const unsigned long long threads = (unsigned long long)block_x * block_y * block_z;
    const bool block_fits = block_x <= 1024 && block_y <= 1024 && block_z <= 64 &&
                            threads >= 1 && threads <= 1024;
    const bool grid_fits = grid_x >= 1 && grid_x <= 0x7fffffffu && grid_y >= 1 &&
                           grid_y <= 65535 && grid_z >= 1 && grid_z <= 65535;
    if (!block_fits || !grid_fits) return INVALID_VALUE;
    const unsigned grid[3] = {grid_x, grid_y, grid_z};
    const unsigned block[3] = {block_x, block_y, block_z};
    Launch launch{(Launcher)function, params};
    return emulate_grid(grid, block, run_launch, &launch) == 0 ? SUCCESS : LAUNCH_FAILED;
}

CUresult cuGetErrorString(CUresult error, const char** text) {
    static thread_local std::string message;
    message = "emulated driver error " + std::to_string(error);
    *text = message.c_str();
    return SUCCESS;
}

CUresult cuGetErrorName(CUresult error, const char** text) { return cuGetErrorString(error, text); }

}  // extern "C"
