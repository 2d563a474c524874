//! What to download: for each data set, its files (name, size, SHA-256), the base URLs they are
//! served under, and the archive members to unpack. [`Manifest::official`] is the table compiled
//! into the binary; tests build their own manifest pointing at a local server.
//!
//! Provenance of the official digests and sizes (none could be downloaded here to hash):
//! - MNIST: `tensorflow/datasets`, `tensorflow_datasets/url_checksums/mnist.txt` (size and
//!   SHA-256 per file at `storage.googleapis.com/cvdf-datasets/mnist/`), cross-checked against
//!   the SHA-256 table of `ankane/torchvision-ruby`, `lib/torchvision/datasets/mnist.rb`
//!   (the files at `yann.lecun.com/exdb/mnist/`); the mirrors serve the same bytes (torchvision
//!   checks one MD5 per file across all of them).
//! - CIFAR-10: `tensorflow/datasets`, `tensorflow_datasets/url_checksums/cifar10.txt` (size and
//!   SHA-256 of `www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz`), cross-checked against
//!   `ankane/torchvision-ruby`, `lib/torchvision/datasets/cifar10.rb`, and `JuliaML/MLDatasets.jl`.

/// One published file: its name under every base URL, its exact size and its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    /// File name, appended to each base URL and used on disk.
    pub name: String,
    /// Exact size in bytes; a download never grows past it.
    pub size: u64,
    /// SHA-256, 64 lowercase hex digits.
    pub sha256: String,
}

/// A file the loader reads that an archive holds: its path inside the archive (kept on disk,
/// relative to the data set's folder) and its exact size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Path inside the archive, `/`-separated, e.g. `cifar-10-batches-bin/test_batch.bin`.
    pub path: String,
    /// Exact size in bytes.
    pub size: u64,
}

/// A `.tar.gz` among a data set's files and the members to unpack from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Archive {
    /// The [`RemoteFile::name`] of the archive.
    pub file: String,
    /// The members unpacked; any other entry is skipped.
    pub members: Vec<Member>,
}

/// Where one data set comes from and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetSource {
    /// The name `mart data fetch` and `--dataset` use: `mnist` or `cifar10`.
    pub name: String,
    /// Its folder under the data root.
    pub folder: String,
    /// Base URLs, tried in order; each file's URL is the base followed by the file name.
    pub mirrors: Vec<String>,
    /// The files downloaded.
    pub files: Vec<RemoteFile>,
    /// The archive to unpack after download, if the files are one.
    pub archive: Option<Archive>,
}

/// Every data set that can be fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The data sets, in the order `all` fetches them.
    pub datasets: Vec<DatasetSource>,
}

/// MNIST's four files: name, size, SHA-256 (provenance in the module documentation).
const MNIST_FILES: [(&str, u64, &str); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        9_912_422,
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    ),
    (
        "train-labels-idx1-ubyte.gz",
        28_881,
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        1_648_877,
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        4_542,
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
];

/// MNIST's base URLs: torchvision's two mirrors (its S3 copy first: the original site has
/// refused anonymous downloads at times) and the copy TensorFlow Datasets uses.
const MNIST_MIRRORS: [&str; 3] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
];

/// CIFAR-10's binary version: name, size, SHA-256 (provenance in the module documentation).
const CIFAR10_ARCHIVE: (&str, u64, &str) = (
    "cifar-10-binary.tar.gz",
    170_052_171,
    "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
);

/// CIFAR-10's only official location.
const CIFAR10_MIRRORS: [&str; 1] = ["https://www.cs.toronto.edu/~kriz/"];

/// The batches the archive holds that the loader reads: 10,000 records of 3,073 bytes each.
const CIFAR10_MEMBERS: [&str; 6] = [
    "cifar-10-batches-bin/data_batch_1.bin",
    "cifar-10-batches-bin/data_batch_2.bin",
    "cifar-10-batches-bin/data_batch_3.bin",
    "cifar-10-batches-bin/data_batch_4.bin",
    "cifar-10-batches-bin/data_batch_5.bin",
    "cifar-10-batches-bin/test_batch.bin",
];

/// Bytes of one CIFAR-10 batch file.
const CIFAR10_BATCH_BYTES: u64 = 10_000 * (1 + 3 * 32 * 32);

impl RemoteFile {
    /// A file from its name, size and hex SHA-256.
    pub fn new(name: &str, size: u64, sha256: &str) -> Self {
        RemoteFile {
            name: name.to_string(),
            size,
            sha256: sha256.to_ascii_lowercase(),
        }
    }
}

impl Manifest {
    /// The official manifest compiled into the binary: MNIST and CIFAR-10 with their published
    /// sizes and SHA-256 digests.
    pub fn official() -> Self {
        let strings = |urls: &[&str]| urls.iter().map(|u| u.to_string()).collect();
        let mnist = DatasetSource {
            name: "mnist".into(),
            folder: "mnist".into(),
            mirrors: strings(&MNIST_MIRRORS),
            files: MNIST_FILES
                .iter()
                .map(|&(name, size, sha)| RemoteFile::new(name, size, sha))
                .collect(),
            archive: None,
        };
        let (name, size, sha) = CIFAR10_ARCHIVE;
        let cifar10 = DatasetSource {
            name: "cifar10".into(),
            folder: "cifar10".into(),
            mirrors: strings(&CIFAR10_MIRRORS),
            files: vec![RemoteFile::new(name, size, sha)],
            archive: Some(Archive {
                file: name.into(),
                members: CIFAR10_MEMBERS
                    .iter()
                    .map(|path| Member {
                        path: path.to_string(),
                        size: CIFAR10_BATCH_BYTES,
                    })
                    .collect(),
            }),
        };
        Manifest {
            datasets: vec![mnist, cifar10],
        }
    }

    /// The manifest with `base` tried first for every file of every data set (a `/` is added
    /// when it lacks one, so the file names follow it as on the official sites).
    pub fn with_mirror(mut self, base: &str) -> Self {
        let base = if base.ends_with('/') {
            base.to_string()
        } else {
            format!("{base}/")
        };
        for dataset in &mut self.datasets {
            dataset.mirrors.insert(0, base.clone());
        }
        self
    }

    /// The data sets `selection` names: one by its name, or every one for `all`.
    pub fn select(&self, selection: &str) -> Result<Vec<&DatasetSource>, super::FetchError> {
        if selection == "all" {
            return Ok(self.datasets.iter().collect());
        }
        self.datasets
            .iter()
            .find(|d| d.name == selection)
            .map(|d| vec![d])
            .ok_or_else(|| super::FetchError::UnknownDataset(selection.to_string()))
    }
}

impl DatasetSource {
    /// The URLs of `file`, one per mirror, in order.
    pub fn urls(&self, file: &RemoteFile) -> Vec<String> {
        self.mirrors
            .iter()
            .map(|base| format!("{base}{}", file.name))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_digests_are_sha256_hex() {
        for dataset in Manifest::official().datasets {
            for file in &dataset.files {
                assert_eq!(file.sha256.len(), 64, "{}", file.name);
                assert!(file.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
                assert!(file.size > 0);
            }
        }
    }

    #[test]
    fn a_user_mirror_comes_first_with_the_official_names() {
        let manifest = Manifest::official().with_mirror("https://example.org/data");
        let mnist = manifest.select("mnist").unwrap()[0];
        let urls = mnist.urls(&mnist.files[0]);
        assert_eq!(
            urls[0],
            "https://example.org/data/train-images-idx3-ubyte.gz"
        );
        assert_eq!(
            urls[1],
            "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz"
        );
        assert_eq!(urls.len(), 4);
        let cifar = manifest.select("cifar10").unwrap()[0];
        assert_eq!(
            cifar.urls(&cifar.files[0])[0],
            "https://example.org/data/cifar-10-binary.tar.gz"
        );
        assert_eq!(manifest.select("all").unwrap().len(), 2);
        assert!(manifest.select("svhn").is_err());
    }
}
