//! Weights prepared for the CPU convolutions of recent calls (Winograd transforms, packed
//! strips), so that the many forward and backward passes of an attack on one model prepare
//! each layer's weights once instead of every time.
//!
//! An entry is keyed on the weight tensor's host storage (held as a [`Weak`] handle), its
//! dimensions and what it was prepared for. Storage is copy-on-write and [`Arc::make_mut`]
//! moves the value to a new allocation while weak handles exist, so any change to the weights
//! (an optimiser step) gives them a new address: an entry whose handle still points at the
//! weights' storage is up to date. The weak handle keeps the old address from being reused.
//! Entries whose weights are gone are dropped at the next lookup, and at most `CAPACITY` are
//! kept.

use crate::element::Element;
use crate::ops::winograd::Tile;
use crate::tensor::Tensor;
use std::any::Any;
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// Most entries kept: every preparation of every convolution of the largest model in the
/// workspace (WideResNet-34-10: 33 3x3 layers, two Winograd orientations or two packings
/// each, and its 1x1 shortcuts), with room to spare.
const CAPACITY: usize = 128;

/// Which convolution the weights were transformed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orientation {
    /// The convolution itself (`[O, C, 3, 3]` as given).
    Forward,
    /// Its input gradient (the flipped, channel-swapped kernels).
    InputGradient,
    /// Its input gradient over the forward pass's tiles (the kernels as given, transposed).
    Transposed,
}

/// What the weights were prepared for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preparation {
    /// Transformed for the Winograd route, in one orientation for one tile.
    Winograd(Orientation, Tile),
    /// Packed as `[O, C*KH*KW]` strips, for the packed forward routes.
    Packed,
    /// Packed transposed, `[C*KH*KW, O]`, for the packed input gradient.
    PackedTransposed,
    /// Flipped with the channels swapped, then packed: the input gradient as a convolution.
    PackedFlipped,
}

/// The storage handle of an entry, whatever its element type.
trait StorageHandle: Send + Sync {
    /// True while the weights it points at exist.
    fn alive(&self) -> bool;
    /// For the downcast to the handle of one element type.
    fn as_any(&self) -> &dyn Any;
}

impl<T: Send + Sync + 'static> StorageHandle for Weak<Vec<T>> {
    fn alive(&self) -> bool {
        self.strong_count() > 0
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

struct Entry {
    storage: Box<dyn StorageHandle>,
    preparation: Preparation,
    /// The weight tensor's dimensions when it was prepared (a reshaped view shares storage).
    dims: Vec<usize>,
    weights: Arc<dyn Any + Send + Sync>,
}

fn entries() -> &'static Mutex<Vec<Entry>> {
    static ENTRIES: OnceLock<Mutex<Vec<Entry>>> = OnceLock::new();
    ENTRIES.get_or_init(|| Mutex::new(Vec::new()))
}

/// `weight` prepared as `preparation` asks: from the cache when these weights were prepared so
/// before, else made by `prepare` and remembered. Weights on a GPU are not cached (these routes
/// are CPU only).
pub fn prepared<T: Element, W: Send + Sync + 'static>(
    weight: &Tensor<T>,
    preparation: Preparation,
    prepare: impl FnOnce() -> W,
) -> Arc<W> {
    let Some(storage) = weight.host_storage() else {
        return Arc::new(prepare());
    };
    let handle = Arc::downgrade(storage);
    let found = {
        let mut entries = entries()
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        entries.retain(|e| e.storage.alive());
        entries
            .iter()
            .find(|e| {
                e.preparation == preparation
                    && e.dims == weight.dims()
                    && e.storage
                        .as_any()
                        .downcast_ref::<Weak<Vec<T>>>()
                        .is_some_and(|w| w.ptr_eq(&handle))
            })
            .and_then(|e| e.weights.clone().downcast::<W>().ok())
    };
    if let Some(weights) = found {
        return weights;
    }
    let weights = Arc::new(prepare());
    let mut entries = entries()
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    if entries.len() >= CAPACITY {
        entries.remove(0);
    }
    entries.push(Entry {
        storage: Box::new(handle),
        preparation,
        dims: weight.dims().to_vec(),
        weights: weights.clone(),
    });
    weights
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::winograd::WinogradWeights;
    use std::cell::Cell;

    /// Weights `[16, 16, 3, 3]` from a fixed sequence.
    fn weight() -> Tensor<f32> {
        let values: Vec<f32> = (0..16 * 16 * 9).map(|i| (i % 13) as f32 / 13.0).collect();
        Tensor::from_vec(values, [16, 16, 3, 3])
    }

    /// Looks `w` up for tiles of 2, counting the transforms it causes.
    fn look_up(w: &Tensor<f32>, orientation: Orientation, made: &Cell<usize>) {
        look_up_tile(w, orientation, Tile::Two, made);
    }

    /// Looks `w` up for `tile`, counting the transforms it causes.
    fn look_up_tile(w: &Tensor<f32>, orientation: Orientation, tile: Tile, made: &Cell<usize>) {
        let weights = prepared(w, Preparation::Winograd(orientation, tile), || {
            made.set(made.get() + 1);
            WinogradWeights::new(w.data(), 16, 16, tile)
        });
        assert_eq!(weights.tile(), tile);
    }

    #[test]
    fn the_same_weights_are_transformed_once_per_orientation() {
        let (w, made) = (weight(), Cell::new(0));
        look_up(&w, Orientation::Forward, &made);
        look_up(&w, Orientation::Forward, &made);
        look_up(&w.clone(), Orientation::Forward, &made);
        assert_eq!(made.get(), 1, "a clone shares the storage and the entry");
        look_up(&w, Orientation::InputGradient, &made);
        assert_eq!(made.get(), 2);
        look_up(&w, Orientation::Transposed, &made);
        look_up(&w, Orientation::Transposed, &made);
        assert_eq!(made.get(), 3);
        look_up_tile(&w, Orientation::Forward, Tile::Four, &made);
        look_up_tile(&w, Orientation::Forward, Tile::Four, &made);
        assert_eq!(made.get(), 4, "one entry per tile");
    }

    #[test]
    fn changed_or_reshaped_weights_are_transformed_again() {
        let (mut w, made) = (weight(), Cell::new(0));
        look_up(&w, Orientation::Forward, &made);
        // An optimiser step: the weights change in place, so the entry must not match.
        w.data_mut()[0] = 5.0;
        look_up(&w, Orientation::Forward, &made);
        assert_eq!(made.get(), 2);
        look_up(&w.reshape([16, 16, 9, 1]), Orientation::Forward, &made);
        assert_eq!(made.get(), 3);
    }

    /// Every cached preparation (Winograd at stride 1, its input gradient over the forward's
    /// tiles when unpadded, packed at stride 2) follows weights changed in place.
    #[test]
    fn convolutions_see_weights_changed_in_place() {
        use crate::Conv2dGeometry;
        let x = Tensor::<f32>::from_vec(
            (0..2 * 16 * 10 * 10)
                .map(|i| (i % 7) as f32 - 3.0)
                .collect(),
            [2, 16, 10, 10],
        );
        // Stride 1 (Winograd; unpadded, the transposed input gradient), stride 2 (packed);
        // each forward and input gradient.
        for (stride, padding) in [(1, 1), (1, 0), (2, 1)] {
            let geom = Conv2dGeometry::new(stride, padding);
            let passes = |w: &Tensor<f32>| {
                let y = x.conv2d(w, None, geom);
                let dx = y.conv2d_grad_input(w, x.shape(), geom);
                [y.to_vec(), dx.to_vec()]
            };
            let mut w = weight();
            let before = passes(&w);
            w.data_mut().iter_mut().for_each(|v| *v = -*v);
            let after = passes(&w);
            // The output changes sign, its input gradient (two negations) does not.
            for (a, b) in before[0].iter().zip(&after[0]) {
                assert!(
                    (a + b).abs() <= 1e-4 * (1.0 + a.abs()),
                    "stride {stride} padding {padding}: {a} then {b}"
                );
            }
            for (a, b) in before[1].iter().zip(&after[1]) {
                assert!(
                    (a - b).abs() <= 1e-3 * (1.0 + a.abs()),
                    "stride {stride} padding {padding}: {a} then {b}"
                );
            }
        }
    }
}
