//! Timing a model on this machine, as `mnv2 bench` does: a classifier (fp32 or int8, a batch of
//! prepared inputs), a segmenter (network, upsampling and argmax) or a detector (network) on a
//! prepared input, or any of them end to end from an image file's bytes (decoding, preprocessing
//! and post-processing included); the step profile of one image; the multiply-adds per image.

use crate::engine::Model;
use crate::engine::profile::StepTime;
use crate::image::Rgb8;
use crate::kernels::peak::PeakMeter;
use crate::{Classifier, Detector, Error, Options, Precision, Segmenter};
use std::time::Instant;

/// What is timed.
enum Target {
    /// A classifier (fp32 or int8) on prepared inputs.
    Classify(Box<Classifier>),
    /// A segmenter's network, upsampling and argmax on a prepared input.
    Segment(Box<Segmenter>, Vec<u8>),
    /// A detector's network on a prepared input.
    Detect(Box<Detector>, Vec<f32>),
}

/// A model ready to be timed.
pub struct Bench {
    target: Target,
    /// The classifier's prepared input (empty for the other tasks).
    prepared: Vec<u8>,
    batch: usize,
    /// The image file's bytes when timed end to end.
    file: Option<Vec<u8>>,
    /// Multiply-adds of one image.
    pub macs_per_image: u64,
}

impl Bench {
    /// `model` on `image` (prepared once), `batch` images per run (classifiers only), or end
    /// to end from `file` (an image file's bytes) when given.
    pub fn new(
        model: Model,
        options: Options,
        batch: usize,
        image: &Rgb8,
        file: Option<Vec<u8>>,
    ) -> Result<Bench, Error> {
        let (macs_per_image, target) = if let Some(ssd) = model.ssdlite() {
            let det = Detector::from_model(model, &options, None)?;
            let input = det.prepare(image);
            (ssd.macs(), Target::Detect(Box::new(det), input))
        } else if let Some(deeplab) = model.deeplab() {
            let seg = Segmenter::new(model, options)?;
            let (input, _) = seg.prepare(image);
            (deeplab.macs(), Target::Segment(Box::new(seg), input))
        } else {
            let macs = model.arch.macs();
            let mut c = Classifier::new(model, options)?;
            c.reserve(batch)?;
            (macs, Target::Classify(Box::new(c)))
        };
        let prepared = match &target {
            Target::Classify(c) => c.preprocess(image)?.data,
            _ if batch > 1 => {
                let why = "a batch applies to classifiers; segmenters and detectors run one image at a time";
                return Err(Error::Input(why.into()));
            }
            _ => Vec::new(),
        };
        Ok(Bench { target, prepared, batch, file, macs_per_image })
    }

    /// The arithmetic the model runs in.
    pub fn precision(&self) -> Precision {
        match &self.target {
            Target::Classify(c) => c.precision(),
            Target::Segment(s, _) => s.precision(),
            Target::Detect(..) => Precision::F32,
        }
    }

    /// Bytes of activations the engine holds.
    pub fn arena_bytes(&self) -> usize {
        match &self.target {
            Target::Classify(c) => c.arena_bytes(),
            Target::Segment(s, _) => s.arena_bytes(),
            Target::Detect(d, _) => d.arena_bytes(),
        }
    }

    /// One run: from the image file's bytes, or from the prepared input (`batch` of them for a
    /// classifier).
    pub fn run_once(&mut self) -> Result<(), Error> {
        let int8 = self.precision() == Precision::Int8;
        let decode = |bytes| crate::image::decode_rgb(bytes, "image");
        let batch: Vec<&[u8]> = (0..self.batch).map(|_| self.prepared.as_slice()).collect();
        match (&mut self.target, self.file.as_deref()) {
            (Target::Classify(c), Some(bytes)) => {
                let input = c.input().decode(bytes, "image", &crate::Limits::global())?;
                drop(c.classify_prepared(&[&input.data], 5)?)
            }
            (Target::Segment(s, _), Some(bytes)) => drop(s.segment(&decode(bytes)?)?),
            (Target::Detect(d, _), Some(bytes)) => drop(d.detect(&decode(bytes)?)?),
            (Target::Classify(c), None) if int8 => drop(c.run_int8(&batch)?),
            (Target::Classify(c), None) => drop(c.run_bytes(&batch)?),
            (Target::Segment(s, input), None) => drop(s.run_input(input)?),
            (Target::Detect(d, input), None) => drop(d.run_input(input)?),
        }
        Ok(())
    }

    /// `warmup` runs, then `iters` timed runs (seconds each, sorted), with the machine's peak
    /// measured as the best of short samples before and between them, so that one busy moment
    /// on a shared host does not set it.
    pub fn time(&mut self, warmup: usize, iters: usize, mut peak: PeakMeter) -> Result<(Vec<f64>, PeakMeter), Error> {
        for _ in 0..warmup.max(1) {
            self.run_once()?;
        }
        for _ in 0..5 {
            peak.sample(20);
        }
        let mut times = Vec::with_capacity(iters);
        for i in 0..iters {
            let t = Instant::now();
            self.run_once()?;
            times.push(t.elapsed().as_secs_f64());
            if (i + 1) % iters.div_ceil(5) == 0 {
                peak.sample(20);
            }
        }
        times.sort_by(f64::total_cmp);
        Ok((times, peak))
    }

    /// Each step's minimum time over `iters` profiled runs of one image (which run on this
    /// thread, where the engine records its steps).
    pub fn profile(&mut self, iters: usize) -> Result<Vec<StepTime>, Error> {
        if self.batch != 1 {
            return Err(Error::Input("the profile times the steps of one image: use a batch of 1".into()));
        }
        let mut best: Vec<StepTime> = Vec::new();
        for _ in 0..iters {
            crate::engine::profile::start();
            let result = self.run_once();
            let steps = crate::engine::profile::finish();
            result?;
            if best.is_empty() {
                best = steps;
            } else {
                for (b, s) in best.iter_mut().zip(steps) {
                    b.seconds = b.seconds.min(s.seconds);
                }
            }
        }
        Ok(best)
    }
}

/// A fixed pseudo-random picture of `size` x `size` (a classifier's arithmetic does not depend on
/// the values; segmentation's argmax does, so give it a real image).
pub fn pattern(size: usize) -> Rgb8 {
    Rgb8::new(size, size, (0..size * size * 3).map(|i| ((i * 2_654_435_761usize) >> 13) as u8).collect())
}
