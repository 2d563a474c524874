//! `mockcuda`: a mock CUDA driver over the PTX simulator, built as `libmockcuda.so`, so that the
//! real device path (`tensor_gpu::driver` through cudarc's dynamic loading, its argument
//! marshalling, copies, caching allocator and error paths) runs in CI on machines without a GPU.
//!
//! It behaves as a driver does where our code could get it wrong: kernel arguments are read
//! through the `.param` layout of the loaded module; launches are queued until the next
//! synchronising call, where a fault is reported, late and sticky; freeing a buffer that a queued
//! launch still takes is such a fault; each device has its own address range; the JIT error log
//! of a module that does not assemble comes back through `cuModuleLoadDataEx`'s options; a
//! broken installation (stub library, no device, version mismatch) fails `cuInit` with the code
//! a driver gives. Settings: [`config`].
//!
//! The library is never called `libcuda.so` in the target folder, so it cannot shadow a real
//! driver: `.ci/mock-cuda` links it as `libcuda.so` in a folder of its own, on `LD_LIBRARY_PATH`
//! for that step only.

pub mod codes;
pub mod config;
pub mod device;
pub mod driver;
pub mod exports;
pub mod sim;
