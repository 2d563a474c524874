//! The model evaluated on a batch a few rows at a time on the CPU.
//!
//! An attack's per-example losses are independent, so a batch can go through the model in row
//! chunks with the same results. On the CPU that is faster: each layer's activations for about
//! a hundred small images stay near the cores, where those of 250 (AutoAttack's batch) spill
//! to memory between layers (SmallCNN, 2 threads: 0.11 ms an image forward at 64-128 rows
//! against 0.14 ms at 250). A GPU wants the whole batch, so there nothing is cut.

use std::ops::Range;

use tensor::{Device, Tensor};

/// Most rows one CPU pass of an attack takes.
pub const CPU_CHUNK_ROWS: usize = 128;

/// The row ranges a batch of `rows` on `device` goes through the model in: near-equal
/// consecutive chunks of at most [`CPU_CHUNK_ROWS`] on the CPU, the whole batch elsewhere.
pub fn row_chunks(rows: usize, device: Device) -> Vec<Range<usize>> {
    let chunks = if device == Device::Cpu {
        rows.div_ceil(CPU_CHUNK_ROWS).max(1)
    } else {
        1
    };
    let (base, longer) = (rows / chunks, rows % chunks);
    let mut start = 0;
    (0..chunks)
        .map(|i| {
            let end = start + base + usize::from(i < longer);
            let range = start..end;
            start = end;
            range
        })
        .collect()
}

/// `parts` stacked along the rows (the only part itself when there is one).
pub fn stack_rows(mut parts: Vec<Tensor<f32>>) -> Tensor<f32> {
    if parts.len() == 1 {
        return parts.remove(0);
    }
    let parts: Vec<&Tensor<f32>> = parts.iter().collect();
    Tensor::concat(&parts, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_rows_once_in_near_equal_parts() {
        for rows in [0, 1, 127, 128, 129, 250, 257, 1000] {
            let chunks = row_chunks(rows, Device::Cpu);
            let mut next = 0;
            for chunk in &chunks {
                assert_eq!(chunk.start, next, "rows {rows}: {chunks:?}");
                assert!(chunk.len() <= CPU_CHUNK_ROWS, "rows {rows}: {chunks:?}");
                next = chunk.end;
            }
            assert_eq!(next, rows);
            let (shortest, longest) = (
                chunks.iter().map(|c| c.len()).min().unwrap(),
                chunks.iter().map(|c| c.len()).max().unwrap(),
            );
            assert!(longest - shortest <= 1, "rows {rows}: {chunks:?}");
            assert_eq!(chunks.len(), rows.div_ceil(CPU_CHUNK_ROWS).max(1));
        }
        assert_eq!(row_chunks(250, Device::Sim).len(), 1);
        assert_eq!(row_chunks(250, Device::Sim)[0], 0..250);
    }
}
