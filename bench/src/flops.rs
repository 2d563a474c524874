//! Forward FLOPs per image of the benchmarked models (a multiply-add counts as 2), from their
//! layer shapes, for the GFLOP/s column. A MART step costs 26 forwards' worth per image:
//! 10 x (forward + input backward) + 2 forwards + 2 full backwards (input and weight).

/// `2 * in * out * k * k * size_out^2` for one convolution.
fn conv(in_ch: u64, out_ch: u64, kernel: u64, size_out: u64) -> u64 {
    2 * in_ch * out_ch * kernel * kernel * size_out * size_out
}

/// SmallCNN on 1x28x28: four 3x3 convs and three linear layers (about 19.9 MFLOP).
pub fn smallcnn_forward() -> u64 {
    conv(1, 32, 3, 26)
        + conv(32, 32, 3, 24)
        + conv(32, 64, 3, 10)
        + conv(64, 64, 3, 8)
        + 2 * (1024 * 200 + 200 * 200 + 200 * 10)
}

/// ResNet-18 (CIFAR variant) on 3x32x32 (about 1.11 GFLOP).
pub fn resnet18_forward() -> u64 {
    let mut total = conv(3, 64, 3, 32);
    let mut in_ch = 64;
    let mut size = 32;
    for (stage, out_ch) in [64u64, 128, 256, 512].into_iter().enumerate() {
        for block in 0..2 {
            let stride = if stage > 0 && block == 0 { 2 } else { 1 };
            size /= stride;
            total += conv(in_ch, out_ch, 3, size) + conv(out_ch, out_ch, 3, size);
            if stride != 1 || in_ch != out_ch {
                total += conv(in_ch, out_ch, 1, size);
            }
            in_ch = out_ch;
        }
    }
    total + 2 * 512 * 10
}

/// Forwards' worth of work in one MART step with `pgd_steps` attack steps.
pub fn mart_step_forwards(pgd_steps: u64) -> u64 {
    2 * pgd_steps + 2 + 2 * 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_the_published_counts() {
        // PERF.md: SmallCNN about 19.9 MFLOP, ResNet-18 about 0.56 GMAC per image.
        assert!((smallcnn_forward() as f64 / 19.9e6 - 1.0).abs() < 0.02);
        assert!((resnet18_forward() as f64 / 1.11e9 - 1.0).abs() < 0.02);
        assert_eq!(mart_step_forwards(10), 26);
    }
}
