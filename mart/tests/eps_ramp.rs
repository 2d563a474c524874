//! The eps ramp reaches every defense's training attack: with the radius scaled to a fraction,
//! every image a defense trains on lies within that fraction of eps of its clean image.

use std::cell::RefCell;

use autograd::Var;
use mart::defense::Batch;
use mart::train::build_defense;
use mart::train::config::{DefenseKind, TrainConfig};
use nn::layers::{Flatten, Linear};
use nn::{Entry, EntryMut, Forward, Mode, Module};
use tensor::{IndexTensor, Rng, Tensor};

/// A linear classifier on 1x4x4 images that records every image it sees in train mode.
struct Recorder {
    linear: Linear<f32>,
    seen: RefCell<Vec<Tensor<f32>>>,
}

impl Module<f32> for Recorder {
    fn forward<'t>(&self, x: &Var<'t, f32>, fwd: &mut Forward<'t, f32>) -> Var<'t, f32> {
        if fwd.mode() == Mode::Train {
            self.seen.borrow_mut().push(x.value().clone());
        }
        let flat = Module::<f32>::forward(&Flatten, x, fwd);
        self.linear.forward(&flat, fwd)
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_, f32>)) {
        self.linear.visit(prefix, f);
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, EntryMut<'_, f32>)) {
        self.linear.visit_mut(prefix, f);
    }
}

/// The largest distance from its clean image of any image `defense` trained on in one step
/// with the radius scaled by `fraction`.
fn farthest_trained_image(defense: DefenseKind, fraction: f32) -> f32 {
    let mut rng = Rng::new(4);
    let model = Recorder {
        linear: Linear::new(16, 3, &mut rng),
        seen: RefCell::new(Vec::new()),
    };
    let images: Tensor<f32> = rng.uniform([6, 1, 4, 4], 0.2, 0.8);
    let labels = IndexTensor::from_vec(vec![0, 1, 2, 0, 1, 2], [6]);
    let config = TrainConfig {
        defense,
        eps: 0.3,
        step_size: 0.075,
        attack_steps: 10,
        ..TrainConfig::default_run()
    };
    let mut built = build_defense(&config, 6);
    built.set_radius_fraction(fraction);
    let tape = autograd::Tape::new();
    let mut fwd = Forward::train(&tape, Rng::new(1));
    let batch = Batch {
        images: &images,
        labels: &labels,
        indices: &[0, 1, 2, 3, 4, 5],
    };
    built.loss(&model, &batch, &mut fwd, &mut rng);
    let seen = model.seen.borrow();
    assert!(!seen.is_empty(), "{defense:?} ran no train-mode forward");
    seen.iter()
        .flat_map(|x| {
            // ALP trains on [clean; adversarial] in one forward.
            let rows = x.dims()[0] / 6;
            (0..rows).map(move |r| x.slice(0, 6 * r, 6 * (r + 1)))
        })
        .map(|x| x.sub(&images).abs().max_all().item())
        .fold(0.0, f32::max)
}

#[test]
fn every_adversarial_defense_trains_within_the_ramped_radius() {
    for defense in [
        DefenseKind::Standard,
        DefenseKind::Trades,
        DefenseKind::Mart,
        DefenseKind::Dynamic,
        DefenseKind::Alp,
    ] {
        let ramped = farthest_trained_image(defense, 0.25);
        assert!(
            ramped <= 0.25 * 0.3 + 1e-6,
            "{defense:?}: an image {ramped} from its clean one, past the ramped radius 0.075"
        );
        // At the full radius the attack does go past the ramped one: the bound above is real.
        let full = farthest_trained_image(defense, 1.0);
        assert!(full > 0.1, "{defense:?}: {full}");
    }
}
