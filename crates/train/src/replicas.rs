//! Data-parallel training: the processes one run is split across (MPI ranks, or this process
//! alone). Each process holds the whole network and an equal shard of every batch; the sums over
//! the batch (batch-norm statistics and their backward sums, weight gradients, the step's figures)
//! are added across processes, so every process takes the same optimizer step.
//!
//! Sums are added in process order, starting from zero, and each process's own sum is one
//! contiguous range of the batch. A single process sums the batch in one range per thread, added
//! in the same way, so N processes of one thread reach the same bits as one process of N threads
//! (see `mnv2::training` and `crates/cli/tests/mpi.rs`).

/// The processes of a data-parallel run.
pub trait Replicas: Send + Sync {
    /// How many processes share each batch.
    fn count(&self) -> usize;
    /// This process's index, from 0; process 0 writes the run's files.
    fn index(&self) -> usize;
    /// Replaces `sums` with the sum over processes of each one's `sums` (all the same length),
    /// added in process order from zero.
    fn sum_f64(&self, sums: &mut [f64]);
    /// As [`Replicas::sum_f64`], in float32.
    fn sum_f32(&self, sums: &mut [f32]);
}

/// This process alone: every sum is already whole.
#[derive(Debug, Clone, Copy, Default)]
pub struct Alone;

impl Replicas for Alone {
    fn count(&self) -> usize {
        1
    }
    fn index(&self) -> usize {
        0
    }
    fn sum_f64(&self, _: &mut [f64]) {}
    fn sum_f32(&self, _: &mut [f32]) {}
}

/// The processes of a run, as settings carry them: this process alone by default.
#[derive(Clone)]
pub struct Processes(pub std::sync::Arc<dyn Replicas>);

impl Default for Processes {
    fn default() -> Processes {
        Processes(std::sync::Arc::new(Alone))
    }
}

impl std::fmt::Debug for Processes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "process {} of {}", self.0.index(), self.0.count())
    }
}

impl Processes {
    /// Whether this process writes the run's files (the first one, or the only one).
    pub fn lead(&self) -> bool {
        self.0.index() == 0
    }
}

/// `gathered` holds each process's `sums.len()` values, in process order; writes their sum,
/// added in that order from zero, into `sums` (what an MPI all-gather front end does with it).
pub fn add_in_order<T: Copy + Default + std::ops::Add<Output = T>>(gathered: &[T], sums: &mut [T]) {
    sums.fill(T::default());
    for part in gathered.chunks_exact(sums.len().max(1)) {
        sums.iter_mut().zip(part).for_each(|(s, &v)| *s = *s + v);
    }
}

/// The examples of a batch of `batch` each of `count` processes takes; an error where they cannot
/// be equal.
pub fn shard_size(batch: usize, count: usize) -> Result<usize, crate::TrainError> {
    if batch.is_multiple_of(count.max(1)) {
        Ok(batch / count.max(1))
    } else {
        Err(crate::TrainError::Data(format!("a batch of {batch} cannot be split evenly over {count} processes")))
    }
}

/// The shard of `batch` examples that process `index` of `count` takes: the `index`-th of
/// `count` equal contiguous ranges (`batch` must be a multiple of `count`).
pub fn shard(batch: usize, count: usize, index: usize) -> std::ops::Range<usize> {
    let per = batch / count.max(1);
    index * per..(index + 1) * per
}

/// Processes simulated by threads of one process, for tests: `count` handles that meet at every
/// sum (a barrier), each one's values gathered in index order.
#[doc(hidden)]
pub mod threads {
    use super::Replicas;
    use std::sync::{Arc, Barrier, Mutex};

    struct Shared {
        barrier: Barrier,
        f64s: Mutex<Vec<Vec<f64>>>,
        f32s: Mutex<Vec<Vec<f32>>>,
    }

    /// One simulated process.
    pub struct ThreadReplica {
        shared: Arc<Shared>,
        count: usize,
        index: usize,
    }

    /// `count` handles, one per simulated process.
    pub fn group(count: usize) -> Vec<ThreadReplica> {
        let shared = Arc::new(Shared {
            barrier: Barrier::new(count),
            f64s: Mutex::new(vec![Vec::new(); count]),
            f32s: Mutex::new(vec![Vec::new(); count]),
        });
        (0..count).map(|index| ThreadReplica { shared: shared.clone(), count, index }).collect()
    }

    fn exchange<T: Copy + Default + std::ops::Add<Output = T>>(
        r: &ThreadReplica,
        slots: &Mutex<Vec<Vec<T>>>,
        sums: &mut [T],
    ) {
        slots.lock().unwrap()[r.index] = sums.to_vec();
        r.shared.barrier.wait();
        let gathered: Vec<T> = slots.lock().unwrap().concat();
        super::add_in_order(&gathered, sums);
        // Nobody writes the next sum's values before everyone has read these.
        r.shared.barrier.wait();
    }

    impl Replicas for ThreadReplica {
        fn count(&self) -> usize {
            self.count
        }
        fn index(&self) -> usize {
            self.index
        }
        fn sum_f64(&self, sums: &mut [f64]) {
            exchange(self, &self.shared.f64s, sums)
        }
        fn sum_f32(&self, sums: &mut [f32]) {
            exchange(self, &self.shared.f32s, sums)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sums_in_process_order_and_shards() {
        let mut s = [0.0f32; 2];
        super::add_in_order(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &mut s);
        assert_eq!(s, [9.0, 12.0]);
        assert_eq!(super::shard(16, 2, 1), 8..16);
        assert_eq!(super::shard(12, 3, 0), 0..4);
    }
}
