//! The time of each step of an inference, for `mnv2 bench --profile`: [`start`], run batches of
//! one image on this thread, [`finish`]. Off by default; then a step costs one atomic load.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

static ON: AtomicBool = AtomicBool::new(false);

thread_local! {
    static TIMES: RefCell<Vec<StepTime>> = const { RefCell::new(Vec::new()) };
}

/// One step of one run: its name ("block 7: 14x14x64 -> 14x14x64") and its time.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTime {
    pub step: String,
    pub seconds: f64,
}

/// Starts recording the steps run on this thread (the engines run a batch of one image on the
/// calling thread; batches of several run on the workers and are not recorded).
pub fn start() {
    TIMES.with(|t| t.borrow_mut().clear());
    ON.store(true, Ordering::Relaxed);
}

/// Stops recording and returns the steps recorded since [`start`], in order.
pub fn finish() -> Vec<StepTime> {
    ON.store(false, Ordering::Relaxed);
    TIMES.with(|t| std::mem::take(&mut *t.borrow_mut()))
}

/// Times the step that lives as long as the returned guard, naming it with `name` (called only
/// when recording).
pub(crate) fn scope(name: impl FnOnce() -> String) -> Option<Scope> {
    ON.load(Ordering::Relaxed).then(|| Scope { step: name(), started: Instant::now() })
}

pub(crate) struct Scope {
    step: String,
    started: Instant,
}

impl Drop for Scope {
    fn drop(&mut self) {
        let seconds = self.started.elapsed().as_secs_f64();
        let step = std::mem::take(&mut self.step);
        TIMES.with(|t| t.borrow_mut().push(StepTime { step, seconds }));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn steps_are_recorded_only_between_start_and_finish() {
        drop(super::scope(|| "before".into()));
        super::start();
        drop(super::scope(|| "a".into()));
        drop(super::scope(|| "b".into()));
        let steps = super::finish();
        drop(super::scope(|| "after".into()));
        assert_eq!(steps.iter().map(|s| s.step.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(super::finish().is_empty());
    }
}
