//! The paper's published numbers (Wang et al., ICLR 2020, Tables 2 to 5), in percent.

/// Table 2, white-box: natural, FGSM, PGD-20, CW-inf per defense; MNIST (SmallCNN, eps 0.3)
/// and CIFAR-10 (ResNet-18, eps 8/255).
pub const TABLE2: [(&str, [f64; 4], [f64; 4]); 5] = [
    (
        "Standard",
        [99.11, 97.17, 94.62, 94.25],
        [84.44, 61.89, 47.55, 45.98],
    ),
    (
        "MMA",
        [98.92, 97.25, 95.25, 94.77],
        [84.76, 62.08, 48.33, 45.77],
    ),
    (
        "Dynamic",
        [98.96, 97.34, 95.27, 94.85],
        [83.33, 62.47, 49.40, 46.94],
    ),
    (
        "TRADES",
        [99.25, 96.67, 94.58, 94.03],
        [82.90, 62.82, 50.25, 48.29],
    ),
    (
        "MART",
        [98.74, 97.87, 96.48, 96.10],
        [83.07, 65.65, 55.57, 54.87],
    ),
];

/// Table 3, black-box transfer from a separately trained surrogate: FGSM, PGD-10, PGD-20,
/// CW-inf per defense; MNIST and CIFAR-10.
pub const TABLE3: [(&str, [f64; 4], [f64; 4]); 5] = [
    (
        "Standard",
        [96.12, 95.73, 95.47, 96.34],
        [79.98, 80.27, 80.01, 80.85],
    ),
    (
        "MMA",
        [96.11, 95.94, 95.81, 96.87],
        [80.28, 80.52, 80.48, 81.32],
    ),
    (
        "Dynamic",
        [97.60, 96.25, 95.82, 97.03],
        [81.37, 81.71, 81.38, 82.05],
    ),
    (
        "TRADES",
        [97.49, 96.03, 95.73, 97.20],
        [81.52, 81.73, 81.53, 82.11],
    ),
    (
        "MART",
        [97.77, 96.96, 96.97, 98.36],
        [82.75, 82.93, 82.70, 82.95],
    ),
];

/// Table 4, white-box on CIFAR-10 with WRN-34-10: natural, then FGSM, PGD-20, PGD-100 and
/// CW-inf of the best and the last epoch, in that order (best, last, best, last, ...).
pub const TABLE4: [(&str, f64, [f64; 8]); 4] = [
    (
        "Standard",
        87.30,
        [56.10, 56.10, 52.68, 49.31, 51.55, 49.03, 50.73, 48.47],
    ),
    (
        "Dynamic",
        84.51,
        [63.53, 63.53, 55.03, 51.70, 54.12, 50.07, 51.34, 49.27],
    ),
    (
        "TRADES",
        84.22,
        [64.70, 64.70, 56.40, 53.16, 55.68, 51.27, 51.98, 51.12],
    ),
    (
        "MART",
        84.17,
        [67.51, 67.51, 58.56, 57.39, 57.88, 55.04, 54.58, 54.53],
    ),
];

/// The published row of `defense` in a table of MNIST and CIFAR-10 columns.
pub fn row(table: &[(&str, [f64; 4], [f64; 4])], defense: &str, cifar: bool) -> Option<[f64; 4]> {
    table
        .iter()
        .find(|(name, _, _)| *name == defense)
        .map(|(_, mnist, cifar10)| if cifar { *cifar10 } else { *mnist })
}

/// Table 5, white-box natural and PGD-20 accuracy with unlabelled data from 80 Million Tiny
/// Images: (a) WideResNet-34-8 with 100K images, (b) WideResNet-28-10 with 500K.
pub const TABLE5: [(&str, [f64; 2], [f64; 2]); 3] = [
    ("UAT++", [86.04, 59.41], [86.21, 62.76]),
    ("RST", [88.24, 59.60], [89.70, 63.10]),
    ("MART", [86.68, 61.88], [86.30, 65.04]),
];
