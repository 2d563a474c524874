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

/// Locks `out` for this run, or says which folder is in use when another run holds it.
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
        Ok(()) => Ok(RunLock { _file: file }),
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
