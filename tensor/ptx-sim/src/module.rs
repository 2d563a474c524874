//! A PTX module: a name and the PTX text of its kernels, built once on first use. Shared by the
//! GPU backend's kernels (through `tensor::gpu::module`) and the simulator's tests.

use std::sync::OnceLock;

/// The first lines of every module: PTX ISA 7.8, written for sm_80 (ptxas also assembles it for
/// sm_90), 64-bit addresses.
pub const PTX_HEADER: &str = ".version 7.8\n.target sm_80\n.address_size 64\n\n";

/// A module of kernels. Each kernel file declares one as a `static`, with a function that writes
/// its PTX text; the text is built on first use and shared by every device that loads it.
pub struct PtxModule {
    name: &'static str,
    build: fn() -> String,
    text: OnceLock<String>,
}

impl PtxModule {
    /// A module named `name` (also its file name in `dump_ptx`) whose text `build` writes.
    pub const fn new(name: &'static str, build: fn() -> String) -> Self {
        PtxModule {
            name,
            build,
            text: OnceLock::new(),
        }
    }

    /// The module's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The PTX text (built on the first call).
    pub fn ptx(&self) -> &str {
        self.text.get_or_init(self.build)
    }
}
