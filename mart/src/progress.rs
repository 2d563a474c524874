//! The one progress-bar style of training and evaluation: message, bar, images done, images per
//! second and time left.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `len` images with that style, or a hidden one when `visible` is false (tests,
/// `--json` pipelines stay quiet; indicatif also hides it when stderr is not a terminal).
pub fn image_bar(len: usize, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}")
            .expect("a valid progress template")
            .progress_chars("=> "),
    );
    bar
}

/// A spinner counting images attacked, for work whose total is not known in advance (a
/// cascade attacks only the points still robust); hidden unless `visible`.
pub fn activity_spinner(visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}: {pos} images attacked, {elapsed}")
            .expect("a valid progress template"),
    );
    bar
}

/// A bar over a download of `len` bytes: message (the URL), bar, bytes done of total, speed and
/// time left; hidden unless `visible`.
pub fn byte_bar(len: u64, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg}\n[{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .expect("a valid progress template")
        .progress_chars("=> "),
    );
    bar
}
