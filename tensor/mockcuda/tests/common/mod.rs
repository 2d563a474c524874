//! Running a test through cudarc in a child process: the driver library is found through
//! `LD_LIBRARY_PATH`, which the loader reads once at process start, and cudarc loads it once per
//! process, so each installation (the mock, the mock broken some way, no driver, a library that
//! is not a driver) needs a process of its own.
//!
//! A case is an ignored test (`child_*`) that the parent test runs in this same test binary with
//! `--ignored --exact`, in a folder holding `libcuda.so` as the case asks.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

/// What `libcuda.so` is in the child's library folder.
pub enum Library {
    /// The mock driver.
    Mock,
    /// Nothing: no driver on the library path.
    Missing,
    /// A library that is not a CUDA driver (the C library, which exports no `cu*` symbol).
    Foreign,
}

/// `libmockcuda.so`, built next to this test binary.
fn mock_library() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("target/<profile>/deps");
    [deps, deps.parent().unwrap_or(deps)]
        .iter()
        .map(|dir| dir.join("libmockcuda.so"))
        .find(|p| p.exists())
        .expect("libmockcuda.so is built with the tests (crate-type cdylib)")
}

/// The C library this process loaded (a real shared library that is not a CUDA driver).
fn c_library() -> PathBuf {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| {
            Path::new(path)
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("libc.so"))
        })
        .map(PathBuf::from)
        .expect("the C library is mapped")
}

/// Runs the ignored test `name` in a child process with `library` as `libcuda.so` and `env`
/// set; fails with the child's output unless it passed.
pub fn run_child(name: &str, library: Library, env: &[(&str, &str)]) {
    let folder = TempDir::new().expect("a temporary folder");
    let target = match library {
        Library::Mock => Some(mock_library()),
        Library::Missing => None,
        Library::Foreign => Some(c_library()),
    };
    if let Some(target) = target {
        std::os::unix::fs::symlink(target, folder.path().join("libcuda.so")).expect("symlink");
    }
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--ignored",
            "--exact",
            name,
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("LD_LIBRARY_PATH", folder.path())
        .env_remove("CUDA_LAUNCH_BLOCKING")
        .env_remove("MOCKCUDA_DEVICES")
        .env_remove("MOCKCUDA_MEMORY")
        .env_remove("MOCKCUDA_INIT_ERROR")
        .envs(env.iter().copied());
    let output = command.output().expect("the child runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child {name} failed:\n{stdout}\n{stderr}"
    );
}

/// `out[i] = a * (i + k)` for `i < n`: parameters of three sizes and kinds, so that `out` sits
/// at offset 8 (aligned) and `k` after the float.
pub const FILL: &str = r#"
.visible .entry fill(.param .u32 n, .param .u64 out, .param .f32 a, .param .u32 k)
{
    .reg .pred %p<2>;
    .reg .b32 %r<6>;
    .reg .f32 %f<4>;
    .reg .b64 %rd<5>;

    ld.param.u32 %r1, [n];
    ld.param.u64 %rd1, [out];
    ld.param.f32 %f1, [a];
    ld.param.u32 %r2, [k];
    mov.u32 %r3, %ctaid.x;
    mov.u32 %r4, %ntid.x;
    mov.u32 %r5, %tid.x;
    mad.lo.s32 %r3, %r3, %r4, %r5;
    setp.ge.u32 %p1, %r3, %r1;
    @%p1 bra DONE;
    add.s32 %r4, %r3, %r2;
    cvt.rn.f32.u32 %f2, %r4;
    mul.rn.f32 %f3, %f1, %f2;
    cvta.to.global.u64 %rd2, %rd1;
    mul.wide.u32 %rd3, %r3, 4;
    add.s64 %rd4, %rd2, %rd3;
    st.global.f32 [%rd4], %f3;
DONE:
    ret;
}
"#;
