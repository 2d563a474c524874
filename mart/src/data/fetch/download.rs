//! HTTP downloads that resume: each file goes to `<name>.part` and is renamed to its name only
//! once its size and SHA-256 are the published ones. A dropped connection resumes with an HTTP
//! `Range` request (also in a later run, from the `.part` left behind); a URL that fails
//! outright passes the file on to the next mirror.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::ProgressBar;

use super::error::{FetchError, MirrorFailure};
use super::manifest::RemoteFile;
use super::verify::sha256_file;

/// Attempts on one URL while each one makes progress (a connection dropped mid-file resumes).
const ATTEMPTS_PER_URL: usize = 4;

/// The HTTP client: rustls for HTTPS (no OpenSSL), no transparent decompression (the `.gz`
/// files are stored as served), connect and read timeouts so a silent server cannot hang a run.
pub struct Client {
    agent: ureq::Agent,
}

/// How one request ended.
enum Attempt {
    /// The `.part` file holds the whole size.
    Complete,
    /// Bytes arrived, then the transfer broke: try the same URL again, resuming.
    Progress(String),
    /// Nothing usable arrived: try the next URL.
    Failed(String),
}

impl Client {
    /// A client; `proxy_from_env` honours `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` (the CLI does;
    /// tests on the loopback interface do not).
    pub fn new(proxy_from_env: bool) -> Self {
        let proxy = if proxy_from_env {
            ureq::Proxy::try_from_env()
        } else {
            None
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(proxy)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(concat!("mart/", env!("CARGO_PKG_VERSION")))
            .build();
        Client {
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// Downloads `file` to `dest`, trying `urls` in order, and returns the URL that delivered
    /// it. The bytes go to `dest` + `.part`, which is renamed to `dest` only when its size and
    /// SHA-256 are the published ones; a mismatching download is removed. When every URL fails,
    /// a non-empty `.part` is kept for a later resume and an empty one removed.
    pub fn download(
        &self,
        file: &RemoteFile,
        urls: &[String],
        dest: &Path,
        bar: &ProgressBar,
    ) -> Result<String, FetchError> {
        let part = part_path(dest);
        let mut failures = Vec::new();
        for url in urls {
            bar.set_message(url.clone());
            match self.fill_from(url, &part, file.size, bar) {
                Ok(()) => {
                    let actual = sha256_file(&part)?;
                    if actual == file.sha256 {
                        std::fs::rename(&part, dest).map_err(|e| {
                            FetchError::io("cannot rename the download to", dest, e)
                        })?;
                        return Ok(url.clone());
                    }
                    remove(&part)?;
                    failures.push(MirrorFailure {
                        url: url.clone(),
                        reason: format!(
                            "delivered a file whose SHA-256 is {actual}, not the published {}; \
                             it was removed (a broken or tampered copy)",
                            file.sha256
                        ),
                    });
                }
                Err(reason) => failures.push(MirrorFailure {
                    url: url.clone(),
                    reason,
                }),
            }
        }
        let kept = part_len(&part);
        if kept == 0 {
            remove(&part)?;
        }
        Err(FetchError::AllMirrorsFailed {
            file: file.name.clone(),
            failures,
            partial: (kept > 0).then_some((part, kept)),
        })
    }

    /// Fills `part` to `size` bytes from `url`, resuming while attempts make progress.
    fn fill_from(
        &self,
        url: &str,
        part: &Path,
        size: u64,
        bar: &ProgressBar,
    ) -> Result<(), String> {
        let mut last = String::new();
        for _ in 0..ATTEMPTS_PER_URL {
            match self.attempt(url, part, size, bar) {
                Attempt::Complete => return Ok(()),
                Attempt::Progress(reason) => last = reason,
                Attempt::Failed(reason) => return Err(reason),
            }
        }
        Err(format!(
            "{last} (gave up after {ATTEMPTS_PER_URL} attempts)"
        ))
    }

    /// One GET of `url`, asking for the bytes after those `part` already holds.
    fn attempt(&self, url: &str, part: &Path, size: u64, bar: &ProgressBar) -> Attempt {
        let mut have = part_len(part);
        if have > size {
            // Longer than the file can be: not a prefix of it.
            if let Err(e) = remove(part) {
                return Attempt::Failed(e.to_string());
            }
            have = 0;
        }
        if have == size {
            return Attempt::Complete;
        }
        let mut request = self.agent.get(url);
        if have > 0 {
            request = request.header("Range", format!("bytes={have}-"));
        }
        let response = match request.call() {
            Ok(response) => response,
            Err(e) => return Attempt::Failed(e.to_string()),
        };
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let start = match status {
            200 => 0,
            206 if have > 0 && range_start(header("content-range").as_deref()) == Some(have) => {
                have
            }
            206 => return Attempt::Failed("answered with a range that was not asked for".into()),
            416 if have > 0 => {
                // The server will not resume this prefix: start over.
                return match remove(part) {
                    Ok(()) => Attempt::Progress("refused to resume (HTTP 416)".into()),
                    Err(e) => Attempt::Failed(e.to_string()),
                };
            }
            _ => return Attempt::Failed(format!("HTTP {status}")),
        };
        if let Some(len) = header("content-length").and_then(|v| v.trim().parse::<u64>().ok())
            && start + len != size
        {
            return Attempt::Failed(format!(
                "announces {} bytes, but the file has {size}",
                start + len
            ));
        }
        bar.set_position(start);
        let reader = response.into_body().into_reader();
        copy_body(reader, part, start, size, bar)
    }
}

/// Writes the body after the first `start` bytes of `part` (truncating it when `start` is 0),
/// never past `size` bytes.
fn copy_body(
    mut reader: impl Read,
    part: &Path,
    start: u64,
    size: u64,
    bar: &ProgressBar,
) -> Attempt {
    let opened = if start == 0 {
        File::create(part)
    } else {
        OpenOptions::new().append(true).open(part)
    };
    let mut out = match opened {
        Ok(file) => file,
        Err(e) => return Attempt::Failed(format!("cannot write {}: {e}", part.display())),
    };
    let mut written = start;
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return broken(written - start, format!("connection broke: {e}")),
        };
        if written + n as u64 > size {
            drop(out);
            let _ = std::fs::remove_file(part);
            return Attempt::Failed(format!("sent more than the file's {size} bytes"));
        }
        if let Err(e) = out.write_all(&buffer[..n]) {
            return Attempt::Failed(format!("cannot write {}: {e}", part.display()));
        }
        written += n as u64;
        bar.set_position(written);
    }
    if written == size {
        Attempt::Complete
    } else {
        broken(
            written - start,
            format!("connection closed after {written} of {size} bytes"),
        )
    }
}

/// A broken transfer: worth resuming if it brought bytes, otherwise the URL failed.
fn broken(gained: u64, reason: String) -> Attempt {
    if gained > 0 {
        Attempt::Progress(reason)
    } else {
        Attempt::Failed(reason)
    }
}

/// The first byte of a `Content-Range: bytes START-END/TOTAL` header.
fn range_start(value: Option<&str>) -> Option<u64> {
    let rest = value?.trim().strip_prefix("bytes")?.trim_start();
    rest.split('-').next()?.trim().parse().ok()
}

/// `dest` with `.part` appended to its file name.
pub(super) fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// The length of `path`, 0 when it does not exist.
fn part_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Removes `path` if it exists.
fn remove(path: &Path) -> Result<(), FetchError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(FetchError::io("cannot remove", path, e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_start_is_parsed() {
        assert_eq!(range_start(Some("bytes 100-199/200")), Some(100));
        assert_eq!(range_start(Some("bytes 0-9/10")), Some(0));
        assert_eq!(range_start(Some("bytes */200")), None);
        assert_eq!(range_start(None), None);
    }

    #[test]
    fn part_path_appends_part() {
        assert_eq!(
            part_path(Path::new("/d/train-images-idx3-ubyte.gz")),
            Path::new("/d/train-images-idx3-ubyte.gz.part")
        );
    }
}
