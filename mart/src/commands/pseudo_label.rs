//! `mart pseudo-label`: hard pseudo-labels for unlabelled images (argmax of the logits, eval mode,
//! no augmentation), the first stage of RST and semi-supervised MART.

use anyhow::{Context, Result, bail};
use nn::Module;
use tensor::{IndexTensor, Tensor};

use crate::cli::PseudoLabelArgs;
use crate::commands::load_model;
use crate::data;
use crate::device::moved;
use crate::eval::predict;

/// What `mart pseudo-label` wrote.
#[derive(Debug)]
pub struct PseudoLabels {
    /// One label per image, in the images' order.
    pub labels: Vec<u32>,
    /// Images labelled per class.
    pub class_counts: Vec<usize>,
    /// With `--dataset`: how many pseudo-labels equal the data set's own labels.
    pub agreeing: Option<usize>,
}

/// The hard pseudo-label of each image: the argmax of `model`'s eval-mode logits, computed
/// `batch_size` images at a time (ties go to the lowest class).
pub fn pseudo_labels(model: &dyn Module<f32>, images: &Tensor<f32>, batch_size: usize) -> Vec<u32> {
    assert!(
        batch_size > 0,
        "pseudo_labels: the batch size must be positive"
    );
    let device = nn::device_of(model);
    let n = images.dims()[0];
    let mut labels = Vec::with_capacity(n);
    for start in (0..n).step_by(batch_size) {
        let batch = moved(&images.slice(0, start, (start + batch_size).min(n)), device);
        let logits = predict(model, &batch);
        labels.extend(moved(&logits.argmax_axis(1), tensor::Device::Cpu).to_vec());
    }
    labels
}

/// Runs `mart pseudo-label`: loads the model and the images, labels images
/// `skip..skip + limit`, and writes the labels (and with `--images-out` the images).
pub fn pseudo_label(args: &PseudoLabelArgs) -> Result<PseudoLabels> {
    if args.batch_size == 0 || args.limit == Some(0) {
        bail!("--batch-size and --limit must be positive");
    }
    let (images, known): (Tensor<f32>, Option<IndexTensor>) = match (&args.images, &args.dataset) {
        (Some(path), None) => (data::load_images(path)?, None),
        (None, Some(name)) => {
            let train = data::load(name, args.data_dir.as_deref())?.train;
            (train.images, Some(train.labels))
        }
        _ => bail!("give the images to label with either --images FILE or --dataset NAME"),
    };
    let total = images.dims()[0];
    if args.skip >= total {
        bail!(
            "--skip {} leaves none of the {total} images to label",
            args.skip
        );
    }
    let end = args.limit.map_or(total, |n| (args.skip + n).min(total));
    let images = images.slice(0, args.skip, end);
    let model = load_model(&args.model, &args.checkpoint, args.device)?;
    let want = nn::ModelKind::from_name(&args.model)
        .map_err(anyhow::Error::msg)?
        .input_shape();
    if images.dims()[1..] != want[..] {
        bail!(
            "{} takes {:?} images but the images to label are {:?}",
            args.model,
            want,
            &images.dims()[1..]
        );
    }
    let labels = pseudo_labels(&*model, &images, args.batch_size);
    data::write_labels(&args.out, &labels)?;
    if let Some(path) = &args.images_out {
        data::write_images(path, &images, &labels)
            .with_context(|| "writing the labelled images (--images-out)")?;
    }
    let classes = labels.iter().max().map_or(0, |&m| m as usize + 1).max(10);
    let mut class_counts = vec![0; classes];
    for &l in &labels {
        class_counts[l as usize] += 1;
    }
    let agreeing = known.map(|known| {
        let known = known.slice(0, args.skip, end);
        known
            .data()
            .iter()
            .zip(&labels)
            .filter(|(a, b)| a == b)
            .count()
    });
    Ok(PseudoLabels {
        labels,
        class_counts,
        agreeing,
    })
}
