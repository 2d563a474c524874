//! One writer per run folder: a training run holds an exclusive lock on `OUT/.lock` while it
//! runs, so two runs started on the same `--out` never interleave their files. The operating
//! system drops the lock when the process ends, however it ends (a SIGKILL included).

use std::fs::{File, TryLockError};
use std::path::Path;

use anyhow::{Context, Result, bail};

/// The held lock; dropping it releases the folder.
pub struct RunLock {
    _file: File,
}

/// Locks `out` for this run, or says which folder is in use when another run holds it. With
/// the lock held, any temporary file of an atomic write (`.partial-*`) in `out` was left by a
/// run that was killed while writing it: those are removed.
pub fn lock_run_folder(out: &Path) -> Result<RunLock> {
    let path = out.join(".lock");
    File::options()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot create the lock file {}", path.display()))?;
    // Held open for reading only: the lock needs no write access, and a file open for writing
    // would keep the folder's file system from being remounted read-only.
    let file = File::open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            remove_stale_partials(out)?;
            Ok(RunLock { _file: file })
        }
        Err(TryLockError::WouldBlock) => bail!(
            "{} is in use by another `mart train` (it holds {}): wait for that run to end, or choose another --out",
            out.display(),
            path.display()
        ),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Removes the temporary files that killed writers left in `out`.
fn remove_stale_partials(out: &Path) -> Result<()> {
    let entries =
        std::fs::read_dir(out).with_context(|| format!("cannot list {}", out.display()))?;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".partial-") {
            let path = entry.path();
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}
