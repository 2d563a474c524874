//! A subset of the training examples treated apart from the rest: the experiment of the paper's
//! Figure 1, where standard adversarial training leaves the misclassified (S-) or correctly
//! classified (S+) examples unperturbed, attacks them with FGSM only, or adds a KL regulariser
//! on them. A plain value of the configuration; the loss itself is `defense::Treated`'s job.

use serde::{Deserialize, Serialize};

use crate::train::defense_kind::DefenseKind;

/// What happens to the examples of the subset (every other example gets standard adversarial
/// training: cross-entropy on PGD examples).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Treatment {
    /// (a) Trained on their natural images, not perturbed.
    NotPerturbed,
    /// (b) Perturbed by FGSM (one step of eps, no random start) instead of PGD.
    Fgsm,
    /// (c) Perturbed by PGD like the rest, with `beta * KL(p(x) || p(x'))` added to their loss.
    Regularized,
}

impl Treatment {
    /// A short name for run folders: `natural`, `fgsm`, `regularized`.
    pub fn name(self) -> &'static str {
        match self {
            Treatment::NotPerturbed => "natural",
            Treatment::Fgsm => "fgsm",
            Treatment::Regularized => "regularized",
        }
    }
}

/// The treated subset of a run: training-set indices and what is done to them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubsetTreatment {
    /// How the subset is called in tables (`S-`, `S+`).
    pub name: String,
    /// Indices into the training set, sorted ascending, each once.
    pub examples: Vec<usize>,
    /// What is done to them.
    pub treatment: Treatment,
}

impl SubsetTreatment {
    /// A subset of `examples` (any order, duplicates dropped).
    pub fn new(name: &str, mut examples: Vec<usize>, treatment: Treatment) -> Self {
        examples.sort_unstable();
        examples.dedup();
        SubsetTreatment {
            name: name.into(),
            examples,
            treatment,
        }
    }

    /// For each training index of a batch, whether it belongs to the subset.
    pub fn members(&self, indices: &[usize]) -> Vec<bool> {
        indices
            .iter()
            .map(|i| self.examples.binary_search(i).is_ok())
            .collect()
    }

    /// Checks that the subset fits a run of `defense` over `train_size` training examples:
    /// the treatments modify standard adversarial training only, and every index must exist.
    pub fn check(&self, defense: DefenseKind, train_size: usize) -> Result<(), String> {
        if defense != DefenseKind::Standard {
            return Err(format!(
                "a treated subset ({}) modifies standard adversarial training, not {}",
                self.name,
                defense.name()
            ));
        }
        if self.examples.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!(
                "the indices of subset {} are not sorted and distinct",
                self.name
            ));
        }
        match self.examples.last() {
            Some(&last) if last >= train_size => Err(format!(
                "subset {} holds training example {last}, but the run trains on {train_size}",
                self.name
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_matches_a_linear_search() {
        let subset = SubsetTreatment::new("S-", vec![9, 2, 40, 2, 17], Treatment::Fgsm);
        assert_eq!(subset.examples, [2, 9, 17, 40]);
        let batch: Vec<usize> = (0..50).rev().collect();
        let naive: Vec<bool> = batch
            .iter()
            .map(|i| [9, 2, 40, 17].iter().any(|e| e == i))
            .collect();
        assert_eq!(subset.members(&batch), naive);
        assert_eq!(naive.iter().filter(|&&m| m).count(), 4);
    }

    #[test]
    fn subsets_that_do_not_fit_are_refused() {
        let subset = SubsetTreatment::new("S+", vec![3, 7], Treatment::NotPerturbed);
        assert!(subset.check(DefenseKind::Standard, 8).is_ok());
        let err = subset.check(DefenseKind::Standard, 7).unwrap_err();
        assert!(
            err.contains("training example 7") && err.contains("on 7"),
            "{err}"
        );
        let err = subset.check(DefenseKind::Mart, 8).unwrap_err();
        assert!(err.contains("not mart"), "{err}");
        let unsorted = SubsetTreatment {
            examples: vec![7, 3],
            ..subset
        };
        assert!(unsorted.check(DefenseKind::Standard, 8).is_err());
    }
}
