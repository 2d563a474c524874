//! Data-parallel training on several GPUs, as PyTorch DDP: one process per GPU, started by
//! `torchrun` or Slurm's `srun` ([`Launch`]); rank 0 makes the NCCL unique id and hands it out
//! over a TCP rendezvous ([`rendezvous`]); the replicas then exchange parameters, gradients and
//! metrics through a [`Collective`]: [`Nccl`] across processes, [`InProcess`] across threads in
//! the tests. [`Replicas`] is what the training loop sees.

mod collective;
mod launcher;
mod nccl;
pub mod rendezvous;
mod replicas;

pub use collective::{Collective, InProcess};
pub use launcher::{Launch, Launcher, first_host};
pub use nccl::{Nccl, link_nccl_and_restart};
pub use replicas::{Reduced, Replicas};

use anyhow::{Context, Result};

/// Joins the job `launch` describes on CUDA device `ordinal` (already opened): makes NCCL
/// loadable, shares rank 0's NCCL id over the rendezvous, and opens the communicator.
pub fn connect(launch: &Launch, ordinal: usize) -> Result<Replicas> {
    // Before the rendezvous: this may restart the process to make NCCL loadable.
    link_nccl_and_restart()?;
    let (addr, port) = (launch.master_addr.as_str(), launch.master_port);
    let id = if launch.rank == 0 {
        let id = Nccl::unique_id()?;
        rendezvous::host(addr, port, launch.world, &id, rendezvous::TIMEOUT)?;
        id
    } else {
        rendezvous::join(addr, port, launch.rank, launch.world, rendezvous::TIMEOUT)?
    };
    let nccl = Nccl::new(ordinal, launch.rank, launch.world, &id)
        .context("opening NCCL after the rendezvous")?;
    Ok(Replicas::new(Box::new(nccl)))
}
