//! `mart data fetch` / `verify` against a local HTTP server on the loopback interface: the
//! embedded MNIST sample and a small CIFAR-layout archive stand in for the official files, with a
//! manifest built for them. No test touches the internet.

mod fetch_server;

use std::path::{Path, PathBuf};

use fetch_server::{Logged, Route, Server};
use mart::data::fetch::{
    Archive, Client, DatasetSource, FileOutcome, FileState, Member, RemoteFile, fetch_dataset,
    verify_dataset,
};
use mart::data::load_with_root;
use sha2::Digest;

/// The embedded sample's files: name, SHA-256 (computed with coreutils' sha256sum), bytes.
const SAMPLE: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        "99d7b9d08cdf4845b60d5037ca211a37d13cb63635d040a1ea62eb49428ae081",
    ),
    (
        "train-labels-idx1-ubyte.gz",
        "63eec1a998feb2f8a5f045d3094c4cd5903bc07610882c55c244713bc062cda6",
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        "4b2f06d456c8eb9d5c753e65705d9ee9d71f881f86d57f4a0d66968955d95239",
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        "a74014634c9053617177452cd5946021c277317e3075b47dd8e128e87a212bda",
    ),
];

/// The bytes of the sample file `name`.
fn sample(name: &str) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist-sample");
    std::fs::read(dir.join(name)).unwrap()
}

/// An MNIST manifest entry for the sample, served under each of `mirrors`.
fn mnist_source(mirrors: Vec<String>) -> DatasetSource {
    DatasetSource {
        name: "mnist".into(),
        folder: "mnist".into(),
        mirrors,
        files: SAMPLE
            .iter()
            .map(|(name, sha)| RemoteFile::new(name, sample(name).len() as u64, sha))
            .collect(),
        archive: None,
    }
}

/// Routes serving every sample file under `/mnist/`.
fn sample_routes() -> Vec<(String, Route)> {
    SAMPLE
        .iter()
        .map(|(name, _)| (format!("/mnist/{name}"), Route::File(sample(name))))
        .collect()
}

/// Every file under `dir`, recursively, relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// No file under `dir` ends in `.part`.
fn assert_no_part_files(dir: &Path) {
    let parts: Vec<PathBuf> = files_under(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".part"))
        .collect();
    assert!(parts.is_empty(), "temporary files left: {parts:?}");
}

fn client() -> Client {
    Client::new(false)
}

#[test]
fn a_normal_fetch_lands_verified_files_that_load() {
    let server = Server::start(sample_routes());
    let source = mnist_source(vec![format!("{}/mnist/", server.base)]);
    let root = tempfile::tempdir().unwrap();
    let fetched = fetch_dataset(&source, root.path(), &client(), false).unwrap();
    let dir = root.path().join("mnist");
    assert_eq!(fetched.dir, dir);
    for (name, _) in SAMPLE {
        assert_eq!(
            std::fs::read(dir.join(name)).unwrap(),
            sample(name),
            "{name}"
        );
    }
    assert!(fetched.files.iter().all(|(name, outcome)| *outcome
        == FileOutcome::Downloaded(format!("{}/mnist/{name}", server.base))));
    assert_no_part_files(root.path());
    let checks = verify_dataset(&source, &dir).unwrap();
    assert_eq!(checks.len(), 4);
    assert!(checks.iter().all(|c| c.state == FileState::Good));

    // The default data root is where train and eval look without --data-dir.
    let data = load_with_root("mnist", None, Some(root.path())).unwrap();
    assert_eq!(data.train.labels.dims()[0], 8_000);
    assert_eq!(data.test.labels.dims()[0], 1_000);

    // A second fetch keeps the verified files and asks the server for nothing.
    let requests = server.requests().len();
    let again = fetch_dataset(&source, root.path(), &client(), false).unwrap();
    assert!(again.files.iter().all(|(_, o)| *o == FileOutcome::Kept));
    assert_eq!(server.requests().len(), requests);
}

#[test]
fn a_wrong_digest_removes_the_file_and_names_the_url_and_both_digests() {
    let server = Server::start(sample_routes());
    let mut source = mnist_source(vec![format!("{}/mnist/", server.base)]);
    let published = "00".repeat(32);
    source.files[1].sha256 = published.clone();
    let root = tempfile::tempdir().unwrap();
    let err = fetch_dataset(&source, root.path(), &client(), false).unwrap_err();
    let message = err.to_string();
    let url = format!("{}/mnist/train-labels-idx1-ubyte.gz", server.base);
    for part in [url.as_str(), published.as_str(), SAMPLE[1].1] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
    let dir = root.path().join("mnist");
    assert!(!dir.join("train-labels-idx1-ubyte.gz").exists());
    assert!(dir.join("train-images-idx3-ubyte.gz").exists());
    assert_no_part_files(root.path());
}

#[test]
fn a_dropped_connection_resumes_with_range_and_completes() {
    let bytes = sample("train-images-idx3-ubyte.gz");
    let half = bytes.len() / 2;
    let mut routes = sample_routes();
    routes[0].1 = Route::DropAfter {
        bytes: bytes.clone(),
        cut: half,
        times: 1,
    };
    let server = Server::start(routes);
    let source = mnist_source(vec![format!("{}/mnist/", server.base)]);
    let root = tempfile::tempdir().unwrap();
    fetch_dataset(&source, root.path(), &client(), false).unwrap();
    let path = "/mnist/train-images-idx3-ubyte.gz";
    assert_eq!(
        server.requests_for(path),
        vec![
            Logged {
                path: path.into(),
                range: None
            },
            Logged {
                path: path.into(),
                range: Some(format!("bytes={half}-"))
            },
        ]
    );
    let got = std::fs::read(root.path().join("mnist/train-images-idx3-ubyte.gz")).unwrap();
    assert!(got == bytes, "the resumed file differs from the served one");
    assert_no_part_files(root.path());
}

#[test]
fn a_partial_download_of_an_earlier_run_resumes() {
    let server = Server::start(sample_routes());
    let source = mnist_source(vec![format!("{}/mnist/", server.base)]);
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("mnist");
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = sample("t10k-images-idx3-ubyte.gz");
    std::fs::write(dir.join("t10k-images-idx3-ubyte.gz.part"), &bytes[..1000]).unwrap();
    fetch_dataset(&source, root.path(), &client(), false).unwrap();
    let requests = server.requests_for("/mnist/t10k-images-idx3-ubyte.gz");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].range.as_deref(), Some("bytes=1000-"));
    assert!(std::fs::read(dir.join("t10k-images-idx3-ubyte.gz")).unwrap() == bytes);
    assert_no_part_files(root.path());
}

#[test]
fn a_server_that_ignores_range_restarts_the_file_from_its_start() {
    let bytes = sample("t10k-images-idx3-ubyte.gz");
    let mut routes = sample_routes();
    routes[2].1 = Route::NoRanges(bytes.clone());
    let server = Server::start(routes);
    let source = mnist_source(vec![format!("{}/mnist/", server.base)]);
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("mnist");
    std::fs::create_dir_all(&dir).unwrap();
    // A prefix from an earlier run: appending the whole file to it would be corrupt.
    std::fs::write(dir.join("t10k-images-idx3-ubyte.gz.part"), &bytes[..1000]).unwrap();
    fetch_dataset(&source, root.path(), &client(), false).unwrap();
    let requests = server.requests_for("/mnist/t10k-images-idx3-ubyte.gz");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].range.as_deref(), Some("bytes=1000-"));
    assert!(std::fs::read(dir.join("t10k-images-idx3-ubyte.gz")).unwrap() == bytes);
    assert_no_part_files(root.path());
}

#[test]
fn a_404_on_the_first_mirror_falls_through_to_the_next() {
    let mut routes = sample_routes();
    routes.push(("/gone/train-images-idx3-ubyte.gz".into(), Route::NotFound));
    let server = Server::start(routes);
    let source = mnist_source(vec![
        format!("{}/gone/", server.base),
        format!("{}/mnist/", server.base),
    ]);
    let root = tempfile::tempdir().unwrap();
    let fetched = fetch_dataset(&source, root.path(), &client(), false).unwrap();
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        &paths[..2],
        [
            "/gone/train-images-idx3-ubyte.gz",
            "/mnist/train-images-idx3-ubyte.gz"
        ]
    );
    assert!(fetched.files.iter().all(|(name, outcome)| *outcome
        == FileOutcome::Downloaded(format!("{}/mnist/{name}", server.base))));
    let checks = verify_dataset(&source, &root.path().join("mnist")).unwrap();
    assert!(checks.iter().all(|c| c.state == FileState::Good));
}

#[test]
fn an_unreachable_host_is_a_clear_error_and_leaves_nothing_behind() {
    // A port that was just free: nothing listens there, so connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/mnist/");
    let source = mnist_source(vec![url.clone()]);
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("data");
    let err = fetch_dataset(&source, &root, &client(), false).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&format!("{url}train-images-idx3-ubyte.gz"))
            && message.contains("could not download train-images-idx3-ubyte.gz"),
        "{message}"
    );
    assert!(!root.exists(), "the fetch left {:?}", files_under(&root));
}

#[test]
fn a_size_other_than_the_published_one_is_refused() {
    let server = Server::start(sample_routes());
    let mut source = mnist_source(vec![format!("{}/mnist/", server.base)]);
    source.files[0].size -= 1;
    let root = tempfile::tempdir().unwrap();
    let message = fetch_dataset(&source, root.path(), &client(), false)
        .unwrap_err()
        .to_string();
    let served = sample("train-images-idx3-ubyte.gz").len();
    assert!(
        message.contains(&format!(
            "announces {served} bytes, but the file has {}",
            served - 1
        )),
        "{message}"
    );
    assert_no_part_files(root.path());
}

#[test]
fn verify_reports_a_corrupted_file_with_both_digests() {
    let server = Server::start(sample_routes());
    let source = mnist_source(vec![format!("{}/mnist/", server.base)]);
    let root = tempfile::tempdir().unwrap();
    fetch_dataset(&source, root.path(), &client(), false).unwrap();
    let dir = root.path().join("mnist");
    let path = dir.join("t10k-labels-idx1-ubyte.gz");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    std::fs::remove_file(dir.join("train-labels-idx1-ubyte.gz")).unwrap();
    let states: Vec<FileState> = verify_dataset(&source, &dir)
        .unwrap()
        .into_iter()
        .map(|c| c.state)
        .collect();
    assert_eq!(states[0], FileState::Good);
    assert_eq!(states[1], FileState::Missing);
    assert_eq!(states[2], FileState::Good);
    assert!(matches!(
        &states[3],
        FileState::WrongDigest { expected, actual } if expected == SAMPLE[3].1 && actual != SAMPLE[3].1
    ));
}

// ---------- CIFAR-10's archive ----------

/// Records per batch of the small archive.
const RECORDS: usize = 3;
/// Bytes of one CIFAR-10 record.
const RECORD: usize = 1 + 3 * 32 * 32;
/// The batches, as in the official archive.
const BATCHES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// Batch `b`: record `r` has label (b + r) % 10 and every pixel (7b + r) % 256.
fn batch(b: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for r in 0..RECORDS {
        bytes.push(((b + r) % 10) as u8);
        bytes.extend(std::iter::repeat_n(((7 * b + r) % 256) as u8, RECORD - 1));
    }
    bytes
}

/// A `.tar.gz` in the official layout (`cifar-10-batches-bin/...`, plus a file the loader does
/// not read), leaving out the batches in `skip`.
fn cifar_archive(skip: &[&str]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut add = |name: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, format!("cifar-10-batches-bin/{name}"), bytes)
            .unwrap();
    };
    add("readme.html", b"<html>not read</html>");
    for (b, name) in BATCHES.iter().enumerate() {
        if !skip.contains(name) {
            add(name, &batch(b));
        }
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// A CIFAR-10 manifest entry for `archive`, served at `base`/cifar/.
fn cifar_source(base: &str, archive: &[u8]) -> DatasetSource {
    let digest = sha2::Sha256::digest(archive);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    DatasetSource {
        name: "cifar10".into(),
        folder: "cifar10".into(),
        mirrors: vec![format!("{base}/cifar/")],
        files: vec![RemoteFile::new(
            "cifar-10-binary.tar.gz",
            archive.len() as u64,
            &hex,
        )],
        archive: Some(Archive {
            file: "cifar-10-binary.tar.gz".into(),
            members: BATCHES
                .iter()
                .map(|name| Member {
                    path: format!("cifar-10-batches-bin/{name}"),
                    size: (RECORDS * RECORD) as u64,
                })
                .collect(),
        }),
    }
}

#[test]
fn the_cifar_archive_unpacks_into_the_layout_the_loader_reads() {
    let archive = cifar_archive(&[]);
    let server = Server::start(vec![(
        "/cifar/cifar-10-binary.tar.gz".into(),
        Route::File(archive.clone()),
    )]);
    let source = cifar_source(&server.base, &archive);
    let root = tempfile::tempdir().unwrap();
    let fetched = fetch_dataset(&source, root.path(), &client(), false).unwrap();
    assert!(fetched.unpacked);
    let dir = root.path().join("cifar10");
    for (b, name) in BATCHES.iter().enumerate() {
        let got = std::fs::read(dir.join("cifar-10-batches-bin").join(name)).unwrap();
        assert!(got == batch(b), "{name} differs from the archived one");
    }
    assert!(!dir.join("cifar-10-batches-bin/readme.html").exists());
    assert_no_part_files(root.path());
    assert!(
        verify_dataset(&source, &dir)
            .unwrap()
            .iter()
            .all(|c| c.state == FileState::Good)
    );

    let data = load_with_root("cifar10", None, Some(root.path())).unwrap();
    let labels = |range: std::ops::Range<usize>| -> Vec<u32> {
        range
            .flat_map(|b| (0..RECORDS).map(move |r| ((b + r) % 10) as u32))
            .collect()
    };
    assert_eq!(data.train.labels.to_vec(), labels(0..5));
    assert_eq!(data.test.labels.to_vec(), labels(5..6));
    assert_eq!(data.train.images.dims(), &[5 * RECORDS, 3, 32, 32]);
    let first_pixel_of_test = data.test.images.to_vec()[0];
    assert!((first_pixel_of_test - 35.0 / 255.0).abs() < 1e-6);

    // A batch lost later is unpacked again from the kept archive, without a download.
    std::fs::remove_file(dir.join("cifar-10-batches-bin/data_batch_3.bin")).unwrap();
    let requests = server.requests().len();
    let again = fetch_dataset(&source, root.path(), &client(), false).unwrap();
    assert_eq!(again.files[0].1, FileOutcome::Kept);
    assert!(again.unpacked);
    assert_eq!(server.requests().len(), requests);
    assert!(std::fs::read(dir.join("cifar-10-batches-bin/data_batch_3.bin")).unwrap() == batch(2));
}

#[test]
fn an_archive_without_a_batch_is_a_clear_error_and_leaves_no_temporary_files() {
    let archive = cifar_archive(&["test_batch.bin"]);
    let server = Server::start(vec![(
        "/cifar/cifar-10-binary.tar.gz".into(),
        Route::File(archive.clone()),
    )]);
    let source = cifar_source(&server.base, &archive);
    let root = tempfile::tempdir().unwrap();
    let message = fetch_dataset(&source, root.path(), &client(), false)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("cifar-10-binary.tar.gz")
            && message.contains("lacks cifar-10-batches-bin/test_batch.bin"),
        "{message}"
    );
    assert_no_part_files(root.path());
}
