//! Where a tensor's elements live: the CPU, a CUDA GPU, or the PTX simulator.

use crate::driver;
use crate::{Gpu, GpuError};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};

/// A device, as the CLI spells it: `cpu`, `cuda:N` or `sim`. The default is the CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Device {
    /// Host memory, the CPU kernels.
    #[default]
    Cpu,
    /// CUDA device with this ordinal, our PTX kernels through the driver.
    Cuda(usize),
    /// The PTX simulator: the GPU kernels interpreted on the CPU (slow; for tests and audits).
    Sim,
}

impl Device {
    /// `cuda:0` when a CUDA driver loads and device 0 opens, otherwise the CPU.
    pub fn auto() -> Device {
        if driver::device_count() > 0 && Device::Cuda(0).gpu().is_ok() {
            Device::Cuda(0)
        } else {
            Device::Cpu
        }
    }

    /// Parses `cpu`, `sim`, `cuda` (device 0), `cuda:N` or `auto`.
    pub fn parse(text: &str) -> Result<Device, String> {
        match text {
            "auto" => Ok(Device::auto()),
            "cpu" => Ok(Device::Cpu),
            "sim" => Ok(Device::Sim),
            "cuda" => Ok(Device::Cuda(0)),
            _ => match text.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(ordinal)) => Ok(Device::Cuda(ordinal)),
                _ => Err(format!(
                    "unknown device `{text}`: expected auto, cpu, sim, cuda or cuda:N"
                )),
            },
        }
    }

    /// True for `cuda:N` and `sim`, the devices that run the PTX kernels.
    pub fn is_gpu(self) -> bool {
        self != Device::Cpu
    }

    /// The process-wide handle of a GPU device (opened on first use and kept, so that every
    /// tensor on `sim` shares one simulated memory and every tensor on `cuda:0` one context);
    /// `None` for the CPU. An error when the driver or the device is missing.
    pub fn gpu(self) -> Result<Option<Gpu>, GpuError> {
        static OPEN: OnceLock<Mutex<HashMap<Device, Gpu>>> = OnceLock::new();
        if self == Device::Cpu {
            return Ok(None);
        }
        let mut open = OPEN.get_or_init(Default::default).lock().unwrap();
        if let Some(gpu) = open.get(&self) {
            return Ok(Some(gpu.clone()));
        }
        let gpu = match self {
            Device::Sim => Gpu::sim(),
            Device::Cuda(ordinal) => Gpu::cuda(ordinal)?,
            Device::Cpu => unreachable!("handled above"),
        };
        open.insert(self, gpu.clone());
        Ok(Some(gpu))
    }

    /// Waits until every kernel launched on this device has finished (a no-op on the CPU and
    /// the simulator, which run synchronously): for timing, since launches are asynchronous.
    pub fn synchronize(self) -> Result<(), GpuError> {
        match self.gpu()? {
            Some(gpu) => gpu.synchronize(),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(ordinal) => write!(f, "cuda:{ordinal}"),
            Device::Sim => write!(f, "sim"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Device;

    #[test]
    fn parses_the_cli_spellings() {
        assert_eq!(Device::parse("cpu"), Ok(Device::Cpu));
        assert_eq!(Device::parse("sim"), Ok(Device::Sim));
        assert_eq!(Device::parse("cuda"), Ok(Device::Cuda(0)));
        assert_eq!(Device::parse("cuda:3"), Ok(Device::Cuda(3)));
        assert!(Device::parse("cuda:x").unwrap_err().contains("cuda:N"));
        assert!(Device::parse("gpu").is_err());
        assert_eq!(Device::Cuda(2).to_string(), "cuda:2");
    }

    #[test]
    fn a_missing_cuda_device_is_an_error_not_a_panic() {
        // No machine has 1000 GPUs: with or without a driver this must come back as an error.
        let err = Device::Cuda(1000).gpu().unwrap_err().to_string();
        assert!(err.contains("CUDA"), "{err}");
    }
}
