//! The engine's worker threads: a small fork-join pool made for many short parallel loops.
//!
//! An inference is some sixty parallel sections of 10-50 microseconds each. A general work-
//! stealing pool lets its idle workers fall asleep between them, and waking one costs about as
//! much as the section; here the workers spin on a job counter for a while after each job (as
//! XNNPACK's pthreadpool does) and only then park, and the calling thread takes part in every
//! loop. Tasks of a loop are claimed with one atomic increment each.

use crate::EngineError;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long an idle worker spins for the next job before it parks.
const SPIN: Duration = Duration::from_micros(300);

/// A fixed pool of worker threads (`count - 1` of them: the caller is the other one).
pub struct Threads {
    /// None: no workers, everything runs on the calling thread.
    pool: Option<Pool>,
    count: usize,
}

thread_local! {
    /// The index of this thread among the participants of the job it runs (0: the caller).
    static WORKER: Cell<usize> = const { Cell::new(0) };
    /// The pool whose job this thread is running (a loop started inside one runs inline).
    static IN_JOB: Cell<*const Shared> = const { Cell::new(std::ptr::null()) };
}

/// A job: run task `i` for every `i < total`.
type Task<'a> = &'a (dyn Fn(usize) + Sync);

/// What the caller and the workers share.
struct Shared {
    /// Bumped once per job (and at shutdown); workers wait for it to change.
    epoch: AtomicUsize,
    /// Points at the current job's `Task` (valid while `next < total` or `active > 0`).
    job: AtomicPtr<()>,
    next: AtomicUsize,
    total: AtomicUsize,
    done: AtomicUsize,
    /// Workers inside the current job (they may hold its pointer).
    active: AtomicUsize,
    panicked: AtomicBool,
    shutdown: AtomicBool,
    /// Parked workers, and what they park on.
    sleeping: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

struct Pool {
    shared: Arc<Shared>,
    workers: Vec<std::thread::JoinHandle<()>>,
    /// One job at a time (callers on several threads take turns).
    dispatch: Mutex<()>,
}

impl Threads {
    /// `count` workers; 0 means one per available core. More than the process-wide limit
    /// (`mnv2_limits::Limits::threads`) is refused before any thread starts.
    pub fn new(count: usize) -> Result<Threads, EngineError> {
        let count = mnv2_limits::Limits::global().threads(count)?;
        if count <= 1 {
            return Ok(Threads { pool: None, count: 1 });
        }
        let shared = Arc::new(Shared {
            epoch: AtomicUsize::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            next: AtomicUsize::new(0),
            total: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            sleeping: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let mut workers = Vec::with_capacity(count - 1);
        for index in 1..count {
            let s = Arc::clone(&shared);
            let spawned =
                std::thread::Builder::new().name(format!("mnv2-worker-{index}")).spawn(move || worker(&s, index));
            match spawned {
                Ok(handle) => workers.push(handle),
                Err(e) => {
                    // The pool built so far shuts down as it drops.
                    drop(Pool { shared, workers, dispatch: Mutex::new(()) });
                    return Err(EngineError::Threads { threads: count, reason: e.to_string() });
                }
            }
        }
        Ok(Threads { pool: Some(Pool { shared, workers, dispatch: Mutex::new(()) }), count })
    }

    /// Runs everything on the calling thread.
    pub fn inline() -> Threads {
        Threads { pool: None, count: 1 }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// The index, below [`Threads::count`], of the participant running the current task of a
    /// loop (0 on the calling thread and outside loops): per-worker buffers are chosen by it.
    pub fn worker_index() -> usize {
        WORKER.with(Cell::get)
    }

    /// Runs `task(i)` for every `i < total` on the caller and the workers; returns when all ran.
    fn run(&self, total: usize, task: &(dyn Fn(usize) + Sync)) {
        let pool = match &self.pool {
            Some(pool) if total > 1 && IN_JOB.with(Cell::get) != Arc::as_ptr(&pool.shared) => pool,
            // No workers, one task, or a loop inside a task of this pool: here, in order.
            _ => return (0..total).for_each(task),
        };
        let _turn = pool.dispatch.lock().unwrap_or_else(|e| e.into_inner());
        let s = &*pool.shared;
        let job: Task<'_> = task;
        s.job.store(&job as *const Task<'_> as *mut (), SeqCst);
        s.done.store(0, SeqCst);
        s.panicked.store(false, SeqCst);
        s.total.store(total, SeqCst);
        s.next.store(0, SeqCst);
        s.epoch.fetch_add(1, SeqCst);
        if s.sleeping.load(SeqCst) > 0 {
            let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        let outer = (IN_JOB.with(|c| c.replace(s)), WORKER.with(|c| c.replace(0)));
        let mine = take_tasks(s, task);
        IN_JOB.with(|c| c.set(outer.0));
        WORKER.with(|c| c.set(outer.1));
        // Every task done and no worker still holding the job: `job` may go out of scope.
        while s.done.load(SeqCst) < total || s.active.load(SeqCst) > 0 {
            std::hint::spin_loop();
        }
        s.job.store(std::ptr::null_mut(), SeqCst);
        if let Some(payload) = mine {
            resume_unwind(payload);
        }
        if s.panicked.load(SeqCst) {
            panic!("a worker thread panicked in a parallel loop");
        }
    }

    /// Runs `f(i, chunk)` for each `chunk_len`-sized chunk of `out` (the last may be shorter), in parallel.
    pub fn for_chunks<T: Send>(&self, out: &mut [T], chunk_len: usize, f: impl Fn(usize, &mut [T]) + Sync) {
        let chunk_len = chunk_len.max(1);
        let (len, base) = (out.len(), SendPtr(out.as_mut_ptr()));
        self.run(len.div_ceil(chunk_len), &|i| {
            let start = i * chunk_len;
            // SAFETY: task i alone gets elements start..start + n of `out`, which outlives the
            // loop (`run` returns after every task).
            let chunk = unsafe { std::slice::from_raw_parts_mut(base.get().add(start), chunk_len.min(len - start)) };
            f(i, chunk)
        });
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
        let (chunk_len, spare_len) = (chunk_len.max(1), spare_len.max(1));
        let chunks = out.len().div_ceil(chunk_len);
        assert!(chunks * spare_len <= spare.len(), "spare chunks for every chunk");
        let (len, base, extra) = (out.len(), SendPtr(out.as_mut_ptr()), SendPtr(spare.as_mut_ptr()));
        self.run(chunks, &|i| {
            let start = i * chunk_len;
            // SAFETY: task i alone gets elements start..start + n of `out` and spare_len
            // elements from i * spare_len of `spare` (checked above); both outlive the loop.
            let (chunk, s) = unsafe {
                (
                    std::slice::from_raw_parts_mut(base.get().add(start), chunk_len.min(len - start)),
                    std::slice::from_raw_parts_mut(extra.get().add(i * spare_len), spare_len),
                )
            };
            f(i, chunk, s)
        });
    }

    /// `f` of every item, in parallel on the workers; results in item order.
    pub fn map<T: Send, R: Send>(&self, items: Vec<T>, f: impl Fn(T) -> R + Sync + Send) -> Vec<R> {
        let mut items: Vec<Option<T>> = items.into_iter().map(Some).collect();
        let mut results: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
        let (src, dst) = (SendPtr(items.as_mut_ptr()), SendPtr(results.as_mut_ptr()));
        self.run(items.len(), &|i| {
            // SAFETY: task i alone touches item i and result i; both vectors outlive the loop.
            unsafe {
                let item = (*src.get().add(i)).take().expect("each item is taken once");
                *dst.get().add(i) = Some(f(item));
            }
        });
        results.into_iter().map(|r| r.expect("every task ran")).collect()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let s = &*self.shared;
        s.shutdown.store(true, SeqCst);
        s.epoch.fetch_add(1, SeqCst);
        {
            let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// A panic's payload, carried from a task to the caller.
type Payload = Box<dyn std::any::Any + Send>;

/// Claims and runs tasks of the current job until none is left; a task that panics still
/// counts as done (so the caller never waits forever) and the first panic's payload is returned.
fn take_tasks(s: &Shared, task: &(dyn Fn(usize) + Sync)) -> Option<Payload> {
    let total = s.total.load(SeqCst);
    let mut first = None;
    loop {
        let i = s.next.fetch_add(1, SeqCst);
        if i >= total {
            return first;
        }
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| task(i))) {
            s.panicked.store(true, SeqCst);
            first.get_or_insert(payload);
        }
        s.done.fetch_add(1, SeqCst);
    }
}

/// A worker: wait for a new job (spinning, then parked), take part, repeat.
fn worker(s: &Shared, index: usize) {
    WORKER.with(|c| c.set(index));
    IN_JOB.with(|c| c.set(s));
    // The epoch the pool started at, not the current one: a job or the shutdown may already
    // have been announced before this thread got to run.
    let mut seen = 0;
    loop {
        let start = Instant::now();
        let mut spins = 0u32;
        while s.epoch.load(SeqCst) == seen {
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(256) && start.elapsed() > SPIN {
                let guard = s.lock.lock().unwrap_or_else(|e| e.into_inner());
                s.sleeping.fetch_add(1, SeqCst);
                // Checked after announcing the sleep: a job started before it is seen here,
                // one started after it wakes this worker.
                let guard = if s.epoch.load(SeqCst) == seen {
                    s.wake.wait(guard).unwrap_or_else(|e| e.into_inner())
                } else {
                    guard
                };
                s.sleeping.fetch_sub(1, SeqCst);
                drop(guard);
            }
        }
        seen = s.epoch.load(SeqCst);
        if s.shutdown.load(SeqCst) {
            return;
        }
        // Announce, then check that this job still has tasks left: only then is its pointer
        // valid (the caller waits for `active` to drop before the job goes out of scope).
        s.active.fetch_add(1, SeqCst);
        if s.epoch.load(SeqCst) == seen && s.next.load(SeqCst) < s.total.load(SeqCst) {
            let job = s.job.load(SeqCst) as *const Task<'_>;
            if !job.is_null() {
                // SAFETY: the job pointer is the caller's `Task`, alive until `active` is 0. A
                // panic's payload stays here; the caller reports it.
                drop(take_tasks(s, unsafe { *job }));
            }
        }
        s.active.fetch_sub(1, SeqCst);
    }
}

/// A raw pointer the tasks of one loop share, each using a disjoint part of what it points at.
struct SendPtr<T>(*mut T);

impl<T> SendPtr<T> {
    /// Through a method, so that closures capture the whole wrapper (which is `Sync`), not its
    /// raw-pointer field.
    fn get(&self) -> *mut T {
        self.0
    }
}

// SAFETY: the loops hand each task a disjoint part of the pointed-to data, which outlives them,
// and `T: Send` is required by every loop that makes one.
unsafe impl<T> Sync for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Send for SendPtr<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_runs_once_with_any_thread_count() {
        for threads in [1, 2, 3, 8] {
            let t = Threads::new(threads).unwrap();
            for len in [0, 1, 5, 64, 1000] {
                for chunk in [1, 3, 64] {
                    let mut v = vec![0u32; len];
                    t.for_chunks(&mut v, chunk, |_, c| c.iter_mut().for_each(|x| *x += 1));
                    assert!(v.iter().all(|&x| x == 1), "{threads} {len} {chunk}");
                }
            }
            let doubled = t.map((0..100).collect(), |x: u64| x * 2);
            assert_eq!(doubled, (0..100).map(|x| x * 2).collect::<Vec<_>>());
            let mut out = vec![0u8; 10];
            let mut spare = vec![0u8; 20];
            t.for_chunks_with(&mut out, 3, &mut spare, 5, |i, c, s| {
                c.fill(i as u8);
                s.fill(1);
            });
            assert_eq!(out, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]);
            assert_eq!(spare.iter().filter(|&&x| x == 1).count(), 20);
        }
    }

    /// Loops started inside a task run inline; worker indexes stay below the count.
    #[test]
    fn nested_loops_and_indexes() {
        let t = Threads::new(3).unwrap();
        let seen = t.map((0..50).collect(), |_: u32| {
            let mut inner = vec![0u8; 7];
            t.for_chunks(&mut inner, 2, |_, c| c.fill(1));
            assert!(inner.iter().all(|&x| x == 1));
            Threads::worker_index()
        });
        assert!(seen.iter().all(|&w| w < 3));
    }

    /// A panic in a task reaches the caller after the loop; the pool keeps working.
    #[test]
    fn panics_reach_the_caller() {
        let t = Threads::new(2).unwrap();
        let r = catch_unwind(AssertUnwindSafe(|| {
            t.map((0..20).collect(), |x: u32| if x == 13 { panic!("task 13") } else { x })
        }));
        assert!(r.is_err());
        assert_eq!(t.map(vec![1, 2, 3], |x: u32| x + 1), vec![2, 3, 4]);
    }

    /// Callers on several threads share one pool, taking turns.
    #[test]
    fn concurrent_callers_take_turns() {
        let t = Threads::new(2).unwrap();
        std::thread::scope(|sc| {
            for k in 0..4u64 {
                let t = &t;
                sc.spawn(move || {
                    for _ in 0..50 {
                        let v = t.map((0..10).collect(), |x: u64| x * k);
                        assert_eq!(v, (0..10).map(|x| x * k).collect::<Vec<_>>());
                    }
                });
            }
        });
    }
}
