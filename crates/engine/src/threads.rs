//! The engine's worker threads: one seam over rayon, so the pool can be swapped later.

use crate::EngineError;

/// A fixed pool of worker threads.
pub struct Threads {
    /// None: no workers, everything runs on the calling thread.
    pool: Option<rayon::ThreadPool>,
    count: usize,
}

impl Threads {
    /// `count` workers; 0 means one per available core. More than the process-wide limit
    /// (`mnv2_limits::Limits::threads`) is refused before any thread starts.
    pub fn new(count: usize) -> Result<Threads, EngineError> {
        let count = mnv2_limits::Limits::global().threads(count)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(count)
            .thread_name(|i| format!("mnv2-worker-{i}"))
            .build()
            .map_err(|e| EngineError::Threads { threads: count, reason: e.to_string() })?;
        Ok(Threads { pool: Some(pool), count })
    }
    /// Runs everything on the calling thread.
    pub fn inline() -> Threads {
        Threads { pool: None, count: 1 }
    }
    pub fn count(&self) -> usize {
        self.count
    }
    /// Runs `f` on one of the workers, so that the parallel loops inside it start from a worker
    /// (the others join by stealing) instead of waking the pool from outside for each loop.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(pool) if self.count > 1 => pool.install(f),
            _ => f(),
        }
    }
    /// Runs `f(i, chunk)` for each `chunk_len`-sized chunk of `out` (the last may be shorter), in parallel.
    pub fn for_chunks<T: Send>(&self, out: &mut [T], chunk_len: usize, f: impl Fn(usize, &mut [T]) + Sync) {
        use rayon::prelude::*;
        match &self.pool {
            Some(pool) if self.count > 1 && out.len() > chunk_len => {
                pool.install(|| out.par_chunks_mut(chunk_len.max(1)).enumerate().for_each(|(i, c)| f(i, c)))
            }
            _ => out.chunks_mut(chunk_len.max(1)).enumerate().for_each(|(i, c)| f(i, c)),
        }
    }
    /// As [`Threads::for_chunks`], handing chunk i also the i-th `spare_len`-sized chunk of
    /// `spare` (which must have as many).
    pub fn for_chunks_with<T: Send, S: Send>(
        &self,
        out: &mut [T],
        chunk_len: usize,
        spare: &mut [S],
        spare_len: usize,
        f: impl Fn(usize, &mut [T], &mut [S]) + Sync,
    ) {
        use rayon::prelude::*;
        let (chunk_len, spare_len) = (chunk_len.max(1), spare_len.max(1));
        assert!(out.len().div_ceil(chunk_len) * spare_len <= spare.len(), "spare chunks for every chunk");
        match &self.pool {
            Some(pool) if self.count > 1 && out.len() > chunk_len => pool.install(|| {
                out.par_chunks_mut(chunk_len)
                    .zip(spare.par_chunks_mut(spare_len))
                    .enumerate()
                    .for_each(|(i, (c, s))| f(i, c, s))
            }),
            _ => out
                .chunks_mut(chunk_len)
                .zip(spare.chunks_mut(spare_len))
                .enumerate()
                .for_each(|(i, (c, s))| f(i, c, s)),
        }
    }
    /// `f` of every item, in parallel on the workers; results in item order.
    pub fn map<T: Send, R: Send>(&self, items: Vec<T>, f: impl Fn(T) -> R + Sync + Send) -> Vec<R> {
        use rayon::prelude::*;
        match &self.pool {
            Some(pool) if self.count > 1 => pool.install(|| items.into_par_iter().map(f).collect()),
            _ => items.into_iter().map(f).collect(),
        }
    }
}
