//! `mnv2 train --mpi`: the run's processes are the MPI ranks (`mpirun -np N mnv2 train --mpi
//! ...`). Each rank's sums are gathered from every rank and added in rank order, so every rank
//! takes the same step, and N ranks of one thread reach the same bits as one process of N threads.
//! Built only with the `mpi` feature (OpenMPI's headers and libclang needed to build it).

use mnv2::train::{Processes, Replicas, replicas::add_in_order};
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives};
use std::sync::Arc;
use std::thread::ThreadId;

/// The world communicator, used from the thread that initialised MPI only.
struct Ranks {
    world: SimpleCommunicator,
    owner: ThreadId,
}

// SAFETY: MPI is initialised at the `Funneled` level (only the main thread calls MPI); every
// method checks that it runs on that thread (`here`) before touching the communicator, so
// sharing the handle with other threads can never make them call MPI.
unsafe impl Send for Ranks {}
// SAFETY: as for Send: calls from any other thread panic before reaching MPI.
unsafe impl Sync for Ranks {}

impl Ranks {
    fn here(&self) {
        assert_eq!(std::thread::current().id(), self.owner, "MPI is called from the training thread only");
    }

    fn gather<T: Copy + Default + std::ops::Add<Output = T> + mpi::datatype::Equivalence>(&self, sums: &mut [T]) {
        self.here();
        let mut all = vec![T::default(); sums.len() * self.count()];
        self.world.all_gather_into(&sums[..], &mut all[..]);
        add_in_order(&all, sums);
    }
}

impl Replicas for Ranks {
    fn count(&self) -> usize {
        self.world.size() as usize
    }
    fn index(&self) -> usize {
        self.world.rank() as usize
    }
    fn sum_f64(&self, sums: &mut [f64]) {
        self.gather(sums)
    }
    fn sum_f32(&self, sums: &mut [f32]) {
        self.gather(sums)
    }
}

/// Runs `train` as one rank of an MPI job, with the ranks as its processes. A rank that fails
/// prints its error and aborts the whole job (the others would wait for it forever).
pub fn run<T>(train: impl FnOnce(Processes) -> anyhow::Result<T>) -> anyhow::Result<T> {
    let (universe, level) = mpi::initialize_with_threading(mpi::Threading::Funneled)
        .ok_or_else(|| anyhow::anyhow!("MPI could not be initialised (or was already)"))?;
    if level < mpi::Threading::Funneled {
        anyhow::bail!("this MPI library gives no threads to a process: it cannot train with --mpi");
    }
    let world = universe.world();
    let ranks = Arc::new(Ranks { world: universe.world(), owner: std::thread::current().id() });
    match train(Processes(ranks)) {
        Ok(v) => Ok(v),
        Err(e) => {
            eprintln!("mnv2: error on rank {}: {}", world.rank(), crate::one_line(&e));
            world.abort(2)
        }
    }
}
