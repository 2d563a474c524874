//! `mart data fetch` and `mart data verify` over the official manifest.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::cli::{FetchArgs, VerifyArgs};
use crate::data::fetch::{
    self, Client, Fetched, FileCheck, FileState, Manifest, default_root, fetch_dataset,
    verify_dataset,
};

/// The data root `--dir` names, else the default one.
fn root(dir: &Option<PathBuf>) -> Result<PathBuf> {
    match dir {
        Some(dir) => Ok(dir.clone()),
        None => Ok(default_root()?),
    }
}

/// Fetches the data sets `args` names into the data root, which is returned with what was done
/// per data set. `progress` shows download bars.
pub fn fetch_data(args: &FetchArgs, progress: bool) -> Result<(PathBuf, Vec<Fetched>)> {
    let root = root(&args.dir)?;
    let mut manifest = Manifest::official();
    for mirror in args.mirror.iter().rev() {
        manifest = manifest.with_mirror(mirror);
    }
    let client = Client::new(true);
    let mut fetched = Vec::new();
    for dataset in manifest.select(&args.dataset)? {
        let done = fetch_dataset(dataset, &root, &client, progress)
            .with_context(|| format!("fetching {} into {}", dataset.name, root.display()))?;
        fetched.push(done);
    }
    Ok((root, fetched))
}

/// The result of `mart data verify`.
#[derive(Debug)]
pub struct VerifyReport {
    /// The data root checked.
    pub root: PathBuf,
    /// Per data set: its name, its folder, and its files' checks (`None`: the folder does not
    /// exist and the data set was not named, so it is skipped).
    pub datasets: Vec<(String, PathBuf, Option<Vec<FileCheck>>)>,
}

impl VerifyReport {
    /// Whether at least one data set was checked and every file checked is good.
    pub fn passed(&self) -> bool {
        self.datasets.iter().any(|(_, _, c)| c.is_some()) && self.failing().is_empty()
    }

    /// The data sets checked that have a missing or mismatching file.
    pub fn failing(&self) -> Vec<&str> {
        self.datasets
            .iter()
            .filter(|(_, _, checks)| {
                checks
                    .as_ref()
                    .is_some_and(|files| files.iter().any(|f| f.state != FileState::Good))
            })
            .map(|(name, _, _)| name.as_str())
            .collect()
    }
}

/// Re-checks the data sets `args` names in the data root.
pub fn verify_data(args: &VerifyArgs) -> Result<VerifyReport> {
    let root = root(&args.dir)?;
    let manifest = Manifest::official();
    let mut datasets = Vec::new();
    for dataset in manifest.select(&args.dataset)? {
        let dir = root.join(&dataset.folder);
        let checks = if args.dataset == "all" && !dir.exists() {
            None
        } else {
            Some(verify_dataset(dataset, &dir)?)
        };
        datasets.push((dataset.name.clone(), dir, checks));
    }
    Ok(VerifyReport { root, datasets })
}

/// Whether `root` is the default data root, so that `--data-dir` can be left out.
pub fn is_default_root(root: &std::path::Path) -> bool {
    fetch::default_root().is_ok_and(|default| default == root)
}
