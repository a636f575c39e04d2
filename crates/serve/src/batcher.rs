//! One worker thread per engine instance of a model: a free worker takes the first waiting
//! request, gathers more up to `max_batch` (dynamic batching, as Triton's batcher does), runs them
//! on its engine's own threads, and answers each through its one-shot channel; inference never
//! runs on the async runtime. While other workers are free it takes only its share of what
//! waits, so instances run side by side. It waits for company (at most `max_wait`) only while
//! other requests for the model are being received or decoded and no other worker is free, so a
//! lone client pays no batching delay. A batch of one request taken while no other batch runs
//! goes to the model's whole-machine engine (all the instances' threads in one), so a lone client
//! gets every core instead of one.

use crate::ServeConfig;
use crate::api::ApiError;
use crate::metrics::Metrics;
use crate::models::{Engine, TaskKind};
use mnv2::image::Rgb8;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a request asks besides its image.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    /// Classification: how many classes to list.
    pub top: usize,
    /// Detection: lowest score listed.
    pub score_threshold: f32,
    /// A PNG (overlay or boxes) instead of JSON.
    pub png: bool,
}

/// An answer: JSON, or PNG bytes.
pub(crate) enum Answer {
    Json(Value),
    Png(Vec<u8>),
}

pub(crate) type Reply = tokio::sync::oneshot::Sender<Result<Answer, ApiError>>;

/// A request's image as it is queued.
pub(crate) enum Input {
    /// Decoded (and for classifiers prepared) on the blocking pool.
    Decoded(Rgb8),
    /// The request's bytes, for the worker to decode (within the server's limits, and prepared
    /// as its engine takes them) just before its batch runs.
    Encoded(axum::body::Bytes),
}

struct Job {
    input: Input,
    params: Params,
    reply: Reply,
}

/// A job whose image is decoded.
struct Ready {
    image: Rgb8,
    params: Params,
    reply: Reply,
}

/// A model as the HTTP side sees it: where to send work, and what it is.
pub(crate) struct ModelHandle {
    pub name: String,
    pub task: TaskKind,
    pub input_size: usize,
    pub precision: &'static str,
    /// Classifiers: how to prepare images before they are submitted.
    pub classifier_input: Option<mnv2::ClassifierInput>,
    queue: SyncSender<Job>,
    /// Requests sent and not yet taken into a batch.
    waiting: Arc<AtomicUsize>,
    /// Requests being received or decoded for this model (see [`ModelHandle::arriving`]).
    arriving: Arc<AtomicUsize>,
    capacity: usize,
}

impl ModelHandle {
    /// Queues a request; `Err` gives the reply back when the queue is full.
    pub fn submit(&self, input: Input, params: Params, reply: Reply) -> Result<(), Reply> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.capacity {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(reply);
        }
        match self.queue.try_send(Job { input, params, reply }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                Err(job.reply)
            }
        }
    }

    /// Requests waiting for a batch.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Counts a request as on its way to this model until the guard is dropped (after it is
    /// submitted or has failed): the worker waits for company only while some are.
    pub fn arriving(&self) -> Arriving {
        self.arriving.fetch_add(1, Ordering::SeqCst);
        Arriving(self.arriving.clone())
    }
}

/// A request on its way to a model's queue (see [`ModelHandle::arriving`]).
pub(crate) struct Arriving(Arc<AtomicUsize>);

impl Drop for Arriving {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Starts a worker thread for each of a model's `engines` (one or more instances of it), all
/// taking batches from one queue; `whole` (with several instances) runs lone requests.
pub(crate) fn spawn(
    name: String,
    engines: Vec<Engine>,
    whole: Option<Engine>,
    config: &ServeConfig,
    metrics: Arc<Metrics>,
) -> ModelHandle {
    let engine = &engines[0];
    let capacity = config.queue;
    let (queue, jobs) = std::sync::mpsc::sync_channel(capacity.max(1));
    let waiting = Arc::new(AtomicUsize::new(0));
    let arriving = Arc::new(AtomicUsize::new(0));
    let handle = ModelHandle {
        name: name.clone(),
        task: engine.task(),
        input_size: engine.input_size(),
        precision: engine.precision(),
        classifier_input: engine.classifier_input(),
        queue,
        waiting: waiting.clone(),
        arriving: arriving.clone(),
        capacity,
    };
    let (max_batch, max_wait, limits) = (config.max_batch, config.max_wait, config.limits);
    let jobs = Arc::new(Mutex::new(jobs));
    let (free, running) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let whole = Arc::new(whole.map(Mutex::new));
    for (i, engine) in engines.into_iter().enumerate() {
        let counts = Counts {
            waiting: waiting.clone(),
            arriving: arriving.clone(),
            free: free.clone(),
            running: running.clone(),
        };
        let (jobs, metrics, whole) = (jobs.clone(), metrics.clone(), whole.clone());
        std::thread::Builder::new()
            .name(format!("mnv2-serve-{name}-{i}"))
            .spawn(move || {
                let engines = Engines { own: engine, whole: (*whole).as_ref() };
                worker(engines, &jobs, (max_batch, max_wait, limits), &counts, &metrics)
            })
            .expect("spawning a model worker thread");
    }
    handle
}

/// What a model's workers count together.
struct Counts {
    /// Requests queued and not yet taken into a batch.
    waiting: Arc<AtomicUsize>,
    /// Requests being received or decoded (see [`ModelHandle::arriving`]).
    arriving: Arc<AtomicUsize>,
    /// Workers not running a batch: waiting for the queue or gathering from it.
    free: Arc<AtomicUsize>,
    /// Batches running, each counted until just before its last answer is sent (so the next
    /// request of a client answered last finds it gone).
    running: Arc<AtomicUsize>,
}

/// A worker's engines: its own, and the model's whole-machine engine it shares with the others.
struct Engines<'a> {
    own: Engine,
    whole: Option<&'a Mutex<Engine>>,
}

/// Batches until every sender is gone (the server has shut down).
fn worker(
    mut engines: Engines,
    jobs: &Mutex<Receiver<Job>>,
    (max_batch, max_wait, limits): (usize, Duration, mnv2::Limits),
    counts: &Counts,
    metrics: &Metrics,
) {
    loop {
        // The queue is held while a batch is gathered (nothing in there panics), and let go
        // before it runs: each batch is one worker's, and a free worker gathers the next.
        counts.free.fetch_add(1, Ordering::SeqCst);
        let next = gather(&jobs.lock().unwrap_or_else(|e| e.into_inner()), max_batch, max_wait, counts);
        counts.free.fetch_sub(1, Ordering::SeqCst);
        let Some(batch) = next else { return };
        counts.waiting.fetch_sub(batch.len(), Ordering::SeqCst);
        metrics.batch(batch.len());
        // A lone request while no other batch runs: every core is idle, so it runs on all of
        // them (if another worker takes a batch meanwhile, the two share the cores). With no
        // batch running, a worker still holding the whole-machine engine has sent its answer and
        // is letting go of it: waiting for the lock is short. (Poisoned: the worker's own.)
        let others = counts.running.fetch_add(1, Ordering::SeqCst);
        let finished = Finished(Some(|| _ = counts.running.fetch_sub(1, Ordering::SeqCst)));
        let alone = batch.len() == 1 && others == 0;
        if let Some(mut whole) = engines.whole.filter(|_| alone).and_then(|w| w.lock().ok()) {
            metrics.whole_machine_batch();
            run_batch(&mut whole, batch, &limits, finished);
        } else {
            run_batch(&mut engines.own, batch, &limits, finished);
        }
    }
}

/// The job with its image decoded within `limits` (and `prepare`d for a classifier), or None
/// once its error is answered (400).
fn decode(job: Job, limits: &mnv2::Limits, prepare: Option<mnv2::ClassifierInput>) -> Option<Ready> {
    let Job { input, params, reply } = job;
    match input {
        Input::Decoded(image) => Some(Ready { image, params, reply }),
        Input::Encoded(bytes) => match crate::api::decode(&bytes, limits, prepare) {
            Ok(image) => Some(Ready { image, params, reply }),
            Err(e) => {
                let _ = reply.send(Err(e));
                None
            }
        },
    }
}

/// The next batch: the first request to come, and up to `max_batch` with those already waiting
/// or (for at most `max_wait`) on their way. Where other workers of the model are free, it takes
/// only its share of what waits and does not wait for more: they take the rest at once, so 8
/// requests on two instances run as two batches of 4 side by side, not one of 8 while a core
/// idles. None once the server has shut down.
fn gather(jobs: &Receiver<Job>, max_batch: usize, max_wait: Duration, counts: &Counts) -> Option<Vec<Job>> {
    let first = jobs.recv().ok()?;
    let mut batch = vec![first];
    let deadline = Instant::now() + max_wait;
    while batch.len() < max_batch {
        // This worker and the others not running a batch share what waits (the batch so far
        // included: it is still counted as waiting).
        let workers = counts.free.load(Ordering::SeqCst).max(1);
        if workers > 1 && batch.len() >= counts.waiting.load(Ordering::SeqCst).div_ceil(workers) {
            break;
        }
        if let Ok(job) = jobs.try_recv() {
            batch.push(job);
            continue;
        }
        let now = Instant::now();
        if workers > 1 || counts.arriving.load(Ordering::SeqCst) == 0 || now >= deadline {
            break;
        }
        // Company is on its way: wait for it in short steps (it may fail instead).
        match jobs.recv_timeout((deadline - now).min(Duration::from_micros(200))) {
            Ok(job) => batch.push(job),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    Some(batch)
}

/// Runs a batch; images still encoded are decoded first (a classifier's all together, small once
/// prepared; a segmenter's or detector's one at a time, as each runs, since they stay full-size).
/// `finished` is called once the engine work is done, before the last answer is sent.
fn run_batch<F: FnOnce()>(engine: &mut Engine, batch: Vec<Job>, limits: &mnv2::Limits, finished: Finished<F>) {
    let prepare = engine.classifier_input();
    let decode = |job| decode(job, limits, prepare);
    match engine {
        Engine::Classify(c) => {
            let ready: Vec<Ready> = batch.into_iter().filter_map(decode).collect();
            if !ready.is_empty() {
                classify(c, ready, finished);
            }
        }
        Engine::Segment(s) => one_at_a_time(batch.into_iter().filter_map(decode).collect(), finished, |job| {
            segment(s, &job.image, job.params)
        }),
        Engine::Detect(d) => one_at_a_time(batch.into_iter().filter_map(decode).collect(), finished, |job| {
            detect(d, &job.image, job.params)
        }),
    }
}

/// Answers each job with `run` in turn, calling `finished` before the last answer is sent.
fn one_at_a_time<F: FnOnce()>(
    jobs: Vec<Ready>,
    mut finished: Finished<F>,
    mut run: impl FnMut(&Ready) -> Result<Answer, ApiError>,
) {
    let last = jobs.len().saturating_sub(1);
    for (i, job) in jobs.into_iter().enumerate() {
        let answer = run(&job);
        if i == last {
            finished.now();
        }
        let _ = job.reply.send(answer);
    }
}

/// Calls its function once: at [`Finished::now`] or, failing that, when dropped.
struct Finished<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Finished<F> {
    fn now(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

impl<F: FnOnce()> Drop for Finished<F> {
    fn drop(&mut self) {
        self.now();
    }
}

/// The batch through the classifier in one engine run (the images arrive cropped and resized to
/// the input, see [`ModelHandle::classifier_input`]).
fn classify<F: FnOnce()>(c: &mut mnv2::Classifier, batch: Vec<Ready>, mut finished: Finished<F>) {
    let top = batch.iter().map(|j| j.params.top).max().unwrap_or(1);
    let inputs: Vec<&[u8]> = batch.iter().map(|j| j.image.data.as_slice()).collect();
    let result = c.classify_prepared(&inputs, top);
    finished.now();
    match result {
        Ok(preds) => {
            for (job, p) in batch.into_iter().zip(preds) {
                let k = job.params.top.min(p.len());
                let _ = job.reply.send(Ok(Answer::Json(json!({"top": mnv2::report::top(&p[..k])}))));
            }
        }
        Err(e) => {
            for job in batch {
                let _ = job.reply.send(Err(ApiError::internal(e.to_string())));
            }
        }
    }
}

fn segment(s: &mut mnv2::Segmenter, image: &Rgb8, params: Params) -> Result<Answer, ApiError> {
    let map = s.segment(image).map_err(|e| ApiError::internal(e.to_string()))?;
    if params.png {
        return png(&s.overlay(image, &map));
    }
    Ok(Answer::Json(json!({"width": map.width, "height": map.height,
                           "classes": mnv2::report::classes(s.labels(), &map)})))
}

fn detect(d: &mut mnv2::Detector, image: &Rgb8, params: Params) -> Result<Answer, ApiError> {
    let boxes: Vec<_> = d
        .detect(image)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .into_iter()
        .filter(|b| b.score >= params.score_threshold)
        .collect();
    if params.png {
        return png(&d.draw(image, &boxes, params.score_threshold));
    }
    Ok(Answer::Json(json!({"detections": mnv2::report::detections(&boxes)})))
}

fn png(image: &Rgb8) -> Result<Answer, ApiError> {
    mnv2::image::encode_png(image).map(Answer::Png).map_err(|e| ApiError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answers a test's queued jobs would get.
    type Answers = Vec<tokio::sync::oneshot::Receiver<Result<Answer, ApiError>>>;

    /// `n` queued jobs (never answered) and the counts of a model with `free` free workers.
    fn queued(n: usize, free: usize) -> (Receiver<Job>, Counts, Answers) {
        let (tx, rx) = std::sync::mpsc::sync_channel(n);
        let mut replies = Vec::new();
        for _ in 0..n {
            let (reply, answer) = tokio::sync::oneshot::channel();
            let params = Params { top: 5, score_threshold: 0.5, png: false };
            tx.send(Job { input: Input::Encoded(Default::default()), params, reply }).unwrap();
            replies.push(answer);
        }
        let counts = Counts {
            waiting: Arc::new(AtomicUsize::new(n)),
            arriving: Arc::new(AtomicUsize::new(0)),
            free: Arc::new(AtomicUsize::new(free)),
            running: Arc::new(AtomicUsize::new(0)),
        };
        (rx, counts, replies)
    }

    #[test]
    fn a_worker_takes_its_share_while_others_are_free() {
        let wait = Duration::from_millis(50);
        // 8 waiting, this worker and another free: 4 each.
        let (rx, counts, _replies) = queued(8, 2);
        assert_eq!(gather(&rx, 8, wait, &counts).unwrap().len(), 4);
        // 7 waiting, three free: ceil(7 / 3) = 3.
        let (rx, counts, _replies) = queued(7, 3);
        assert_eq!(gather(&rx, 8, wait, &counts).unwrap().len(), 3);
        // Alone (the others busy): everything up to the batch limit.
        let (rx, counts, _replies) = queued(8, 1);
        assert_eq!(gather(&rx, 8, wait, &counts).unwrap().len(), 8);
        let (rx, counts, _replies) = queued(12, 1);
        assert_eq!(gather(&rx, 8, wait, &counts).unwrap().len(), 8);
    }
}
