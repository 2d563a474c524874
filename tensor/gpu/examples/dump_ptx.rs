//! Writes every GPU kernel module's PTX text to a folder, one `<module>.ptx` file each, so that
//! ptxas (CI) or a reader can check exactly what runs on the device.
//!
//! `cargo run -p tensor-gpu --release --example dump_ptx -- DIR`

use std::path::PathBuf;
use std::process::ExitCode;
use tensor_gpu::kernels::all_modules;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: dump_ptx DIR   (writes DIR/<module>.ptx for every kernel module)");
        return ExitCode::from(2);
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for module in all_modules() {
        let path = dir.join(format!("{}.ptx", module.name()));
        if let Err(e) = std::fs::write(&path, module.ptx()) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("{}", path.display());
    }
    ExitCode::SUCCESS
}
