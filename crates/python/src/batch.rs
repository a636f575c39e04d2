//! Prepared network inputs from numpy: uint8 RGB bytes (as `Classifier.preprocess` makes them)
//! or, for float32 engines, already-normalised float32 values; (N, S, S, 3) or one (S, S, 3).

use numpy::{PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// A batch of inputs, `n` images of the network's input size.
pub enum Batch {
    Bytes { data: Vec<u8>, n: usize },
    Real { data: Vec<f32>, n: usize },
}

impl Batch {
    pub fn len(&self) -> usize {
        match self {
            Batch::Bytes { n, .. } | Batch::Real { n, .. } => *n,
        }
    }

    /// Each image's bytes (None for float inputs).
    pub fn byte_images(&self) -> Option<Vec<&[u8]>> {
        match self {
            Batch::Bytes { data, n } => {
                Some(if *n == 0 { vec![] } else { data.chunks_exact(data.len() / n).collect() })
            }
            Batch::Real { .. } => None,
        }
    }
}

/// Reads a prepared batch for a network of input `size` x `size`, copied out of the array.
pub fn extract(obj: &Bound<'_, PyAny>, size: usize) -> PyResult<Batch> {
    let array = obj.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!(
            "expected a numpy array ({size}, {size}, 3) or (N, {size}, {size}, 3), uint8 or float32"
        ))
    })?;
    let shape = array.shape().to_vec();
    let n = match shape[..] {
        [h, w, 3] if h == size && w == size => 1,
        [n, h, w, 3] if h == size && w == size => n,
        _ => {
            return Err(PyValueError::new_err(format!(
                "the network takes ({size}, {size}, 3) or (N, {size}, {size}, 3) inputs, got shape {shape:?} \
                 (preprocess() makes them from images)"
            )));
        }
    };
    if let Ok(bytes) = array.cast::<PyArrayDyn<u8>>() {
        return Ok(Batch::Bytes { data: copy_out(bytes), n });
    }
    if let Ok(real) = array.cast::<PyArrayDyn<f32>>() {
        return Ok(Batch::Real { data: copy_out(real), n });
    }
    let dtype = array.dtype().str()?.to_string();
    Err(PyTypeError::new_err(format!("inputs must be uint8 (pixel bytes) or float32 (normalised), got dtype {dtype}")))
}

/// The array's elements in row-major order (copied, so the array stays the caller's).
pub fn copy_out<T: numpy::Element + Copy>(array: &Bound<'_, PyArrayDyn<T>>) -> Vec<T> {
    let view = array.readonly();
    match view.as_slice() {
        Ok(contiguous) => contiguous.to_vec(),
        Err(_) => view.as_array().iter().copied().collect(),
    }
}
