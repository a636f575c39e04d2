//! The compiled network of a classifier or a segmenter in the arithmetic chosen: fp32, or int8
//! exactly as TFLite computes it; each with the activation memory of its last batch size.

use crate::{Error, Options, Precision};
use mnv2_engine::{F32Engine, Model, Q8Engine, Runner};

pub(crate) enum Backend {
    F32(Runner<F32Engine>),
    Int8(Runner<Q8Engine>),
}

impl Backend {
    /// `model` compiled in integer arithmetic where `options.precision` asks for it, else fp32.
    pub(crate) fn new(model: &Model, options: &Options) -> Result<Backend, Error> {
        Ok(if options.precision.is_int8_for(model) {
            Backend::Int8(Runner::new(Q8Engine::new(model, options.threads)?))
        } else {
            Backend::F32(Runner::new(F32Engine::new(model, options.threads)?))
        })
    }

    /// The same compiled network (weights shared) with workers and activation memory of its own.
    pub(crate) fn instance(&self) -> Result<Backend, Error> {
        Ok(match self {
            Backend::F32(r) => Backend::F32(r.instance()?),
            Backend::Int8(r) => Backend::Int8(r.instance()?),
        })
    }

    /// The arithmetic the network runs in (never `Auto`).
    pub(crate) fn precision(&self) -> Precision {
        match self {
            Backend::F32(..) => Precision::F32,
            Backend::Int8(..) => Precision::Int8,
        }
    }

    /// Bytes of activation memory held (0 before the first run).
    pub(crate) fn arena_bytes(&self) -> usize {
        match self {
            Backend::F32(r) => r.arena_bytes(),
            Backend::Int8(r) => r.arena_bytes(),
        }
    }

    /// Makes the activation memory for batches of `batch` images now, refusing a batch too
    /// large for the memory limit.
    pub(crate) fn reserve(&mut self, batch: usize) -> Result<(), Error> {
        match self {
            Backend::F32(r) => drop(r.reserve(batch)?),
            Backend::Int8(r) => drop(r.reserve(batch)?),
        }
        Ok(())
    }
}

/// Prepared inputs (RGB bytes, each `len` long) as one contiguous batch, each length checked.
pub(crate) fn concat_inputs(inputs: &[&[u8]], len: usize, spec: &mnv2_engine::InputSpec) -> Result<Vec<f32>, Error> {
    let mut out = Vec::with_capacity(inputs.len() * len);
    for (i, b) in inputs.iter().enumerate() {
        if b.len() != len {
            return Err(Error::Input(format!("input {i} has {} bytes, expected {len}", b.len())));
        }
        spec.extend_real(&mut out, b);
    }
    Ok(out)
}
