//! The collective operations data-parallel training needs, behind one small trait: NCCL across
//! processes in production ([`super::Nccl`]), threads in one process in tests ([`InProcess`]).

use std::sync::{Arc, Barrier, Mutex};

use anyhow::{Result, bail};

/// A group of `world` replicas that exchange f32 buffers. Every replica calls the same
/// operations in the same order with buffers of the same length; each call returns when the
/// whole group has taken part.
pub trait Collective {
    /// This replica's rank, from 0.
    fn rank(&self) -> usize;
    /// Number of replicas.
    fn world(&self) -> usize;
    /// Replaces `buf` on every replica with the `root` replica's `buf`.
    fn broadcast(&self, buf: &mut [f32], root: usize) -> Result<()>;
    /// Replaces `buf` on every replica with the elementwise sum of all replicas' `buf`: the
    /// same bits on every replica.
    fn all_reduce_sum(&self, buf: &mut [f32]) -> Result<()>;
}

/// What the replicas of an [`InProcess`] group share.
struct Shared {
    /// Each replica's contribution to the operation under way.
    slots: Mutex<Vec<Vec<f32>>>,
    barrier: Barrier,
}

/// A group of replicas that are threads of one process, meeting at a barrier: the collective
/// CI tests data-parallel training with, one thread per replica.
pub struct InProcess {
    rank: usize,
    world: usize,
    shared: Arc<Shared>,
}

impl InProcess {
    /// One handle per replica of a group of `world`, in rank order: give each to its thread.
    pub fn group(world: usize) -> Vec<InProcess> {
        let shared = Arc::new(Shared {
            slots: Mutex::new(vec![Vec::new(); world]),
            barrier: Barrier::new(world),
        });
        (0..world)
            .map(|rank| InProcess {
                rank,
                world,
                shared: shared.clone(),
            })
            .collect()
    }

    /// Puts `buf` in this replica's slot, waits for all, runs `read` over every slot, then
    /// waits again so that no replica refills its slot while another still reads.
    fn exchange(&self, buf: &mut [f32], read: impl FnOnce(&[Vec<f32>], &mut [f32])) -> Result<()> {
        {
            let mut slots = self.shared.slots.lock().unwrap();
            slots[self.rank].clear();
            slots[self.rank].extend_from_slice(buf);
        }
        self.shared.barrier.wait();
        {
            let slots = self.shared.slots.lock().unwrap();
            if let Some(other) = slots.iter().position(|s| s.len() != buf.len()) {
                // Every replica sees the same mismatch, so all of them fail together.
                bail!(
                    "collective: replica {other} gave {} values, replica {} gave {}: the replicas \
                     are out of step",
                    slots[other].len(),
                    self.rank,
                    buf.len()
                );
            }
            read(&slots, buf);
        }
        self.shared.barrier.wait();
        Ok(())
    }
}

impl Collective for InProcess {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world(&self) -> usize {
        self.world
    }

    fn broadcast(&self, buf: &mut [f32], root: usize) -> Result<()> {
        if root >= self.world {
            bail!("broadcast from replica {root} in a group of {}", self.world);
        }
        self.exchange(buf, |slots, buf| buf.copy_from_slice(&slots[root]))
    }

    fn all_reduce_sum(&self, buf: &mut [f32]) -> Result<()> {
        self.exchange(buf, |slots, buf| {
            // Summed in rank order on every replica: the same bits everywhere.
            for (i, x) in buf.iter_mut().enumerate() {
                *x = slots.iter().map(|s| s[i]).sum();
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` on every replica of a group of `world`, one thread each; results in rank order.
    fn on_threads<R: Send>(world: usize, f: impl Fn(&InProcess) -> R + Sync) -> Vec<R> {
        let group = InProcess::group(world);
        std::thread::scope(|s| {
            let handles: Vec<_> = group.iter().map(|c| s.spawn(|| f(c))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    #[test]
    fn all_reduce_sums_every_replica_and_broadcast_copies_the_root() {
        let out = on_threads(3, |c| {
            let r = c.rank() as f32;
            let mut sum = vec![r, 10.0 * r, 1.0];
            c.all_reduce_sum(&mut sum).unwrap();
            let mut root = vec![r + 0.5; 2];
            c.broadcast(&mut root, 2).unwrap();
            // Several operations in a row keep their order.
            let mut again = vec![1.0];
            c.all_reduce_sum(&mut again).unwrap();
            (sum, root, again, c.world())
        });
        for (sum, root, again, world) in out {
            assert_eq!(sum, vec![3.0, 30.0, 3.0]);
            assert_eq!(root, vec![2.5, 2.5]);
            assert_eq!(again, vec![3.0]);
            assert_eq!(world, 3);
        }
    }

    #[test]
    fn replicas_out_of_step_fail_together() {
        let out = on_threads(2, |c| {
            let mut buf = vec![0.0; 2 + c.rank()];
            c.all_reduce_sum(&mut buf)
                .map_err(|e| e.to_string())
                .unwrap_err()
        });
        assert!(out.iter().all(|m| m.contains("out of step")), "{out:?}");
    }
}
