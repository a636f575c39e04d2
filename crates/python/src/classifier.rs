//! `mnv2.Classifier`: ImageNet-style classification from images, and the network's outputs and
//! features from prepared batches as numpy arrays.

use crate::batch::{self, Batch};
use crate::errors::OrPyErr;
use crate::images;
use crate::options::{lock, model_path, options, precision_name};
use numpy::ndarray::{Array2, Array4};
use numpy::{IntoPyArray, PyArray2, PyArray4};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;
use std::path::PathBuf;
use std::sync::Mutex;

/// A classification model loaded and compiled once; safe to share between threads (calls on one
/// classifier take turns; use one classifier per thread to run in parallel).
#[pyclass(module = "mnv2", name = "Classifier", frozen)]
pub struct Classifier {
    inner: Mutex<mnv2::Classifier>,
    path: PathBuf,
    labels: Vec<String>,
    input_size: usize,
    classes: usize,
    precision: &'static str,
}

#[pymethods]
impl Classifier {
    #[new]
    #[pyo3(signature = (path=None, *, threads=0, precision="auto", crop=0.875, labels=None, preprocess="auto"))]
    fn new(
        py: Python<'_>,
        path: Option<PathBuf>,
        threads: usize,
        precision: &str,
        crop: f32,
        labels: Option<PathBuf>,
        preprocess: &str,
    ) -> PyResult<Self> {
        let path = model_path(path, mnv2::default_model_path)?;
        let options = options(threads, precision, crop, labels, preprocess)?;
        let c = py.detach(|| mnv2::Classifier::load(&path, options)).py_err()?;
        Ok(Classifier {
            labels: c.labels().names().to_vec(),
            input_size: c.input_size(),
            classes: c.model().arch.classes as usize,
            precision: precision_name(c.precision()),
            inner: Mutex::new(c),
            path,
        })
    }

    /// The top `top` predictions of each image: `[{"index", "label", "score"}, ...]`, best first
    /// (a list of those for a list or batch of images).
    #[pyo3(signature = (images, top=5))]
    fn classify<'py>(&self, py: Python<'py>, images: &Bound<'py, PyAny>, top: usize) -> PyResult<Bound<'py, PyAny>> {
        if top == 0 {
            return Err(PyValueError::new_err("top must be at least 1"));
        }
        let given = images::extract(images)?;
        let results = py
            .detach(|| {
                let decoded = images::decode(given.sources)?;
                lock(&self.inner).classify(&decoded, top)
            })
            .py_err()?;
        // The objects `mnv2 classify --json` prints and `mnv2 serve` answers.
        let lists = results.iter().map(|p| crate::values::to_py(py, &mnv2::report::top(p))).collect::<PyResult<_>>()?;
        one_or_list(py, lists, given.single)
    }

    /// The network's inputs for images: centre crop, resize, as uint8 (N, S, S, 3).
    fn preprocess<'py>(&self, py: Python<'py>, images: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray4<u8>>> {
        let given = images::extract(images)?;
        let s = self.input_size;
        let data = py
            .detach(|| -> Result<Vec<u8>, mnv2::Error> {
                let decoded = images::decode(given.sources)?;
                let c = lock(&self.inner);
                let mut all = Vec::with_capacity(decoded.len() * s * s * 3);
                for img in &decoded {
                    all.extend_from_slice(&c.preprocess(img)?.data);
                }
                Ok(all)
            })
            .py_err()?;
        let n = data.len() / (s * s * 3);
        Ok(Array4::from_shape_vec((n, s, s, 3), data).expect("n whole images").into_pyarray(py))
    }

    /// The network's output for a prepared batch, float32 (N, classes): logits, or the
    /// probabilities of models that end in a softmax (the TFLite ImageNet models; in int8 the
    /// output bytes dequantized). uint8 inputs are pixel bytes; float32 inputs are already
    /// normalised (float32 engines only).
    fn logits<'py>(&self, py: Python<'py>, batch: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let input = batch::extract(batch, self.input_size)?;
        let n = input.len();
        let out = py
            .detach(|| {
                let mut c = lock(&self.inner);
                match &input {
                    Batch::Bytes { .. } => c.run_bytes(&input.byte_images().expect("bytes")),
                    Batch::Real { data, n } => c.run_real(data, *n),
                }
            })
            .py_err()?;
        Ok(rows(py, out, n, self.classes))
    }

    /// Softmax probabilities of a prepared uint8 batch, float32 (N, classes).
    fn probabilities<'py>(&self, py: Python<'py>, batch: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let input = self.byte_batch(batch)?;
        let out = py.detach(|| lock(&self.inner).probabilities(&input.byte_images().expect("bytes"))).py_err()?;
        Ok(rows(py, out, input.len(), self.classes))
    }

    /// The int8 engine's raw output bytes of a prepared uint8 batch, uint8 (N, classes): what
    /// TFLite's integer kernels give, byte for byte (int8 outputs are stored +128).
    fn output_bytes<'py>(&self, py: Python<'py>, batch: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray2<u8>>> {
        let input = self.byte_batch(batch)?;
        let out = py.detach(|| lock(&self.inner).run_int8(&input.byte_images().expect("bytes"))).py_err()?;
        Ok(rows(py, out, input.len(), self.classes))
    }

    /// The backbone's pooled features of a prepared uint8 batch, float32 (N, features); needs
    /// `precision="f32"`.
    fn features<'py>(&self, py: Python<'py>, batch: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let input = self.byte_batch(batch)?;
        let n = input.len();
        let out = py.detach(|| lock(&self.inner).features(&input.byte_images().expect("bytes"))).py_err()?;
        let width = out.len().checked_div(n).unwrap_or(0);
        Ok(rows(py, out, n, width))
    }

    /// Class names, index order.
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.labels.clone()
    }
    /// The square input size of the network.
    #[getter]
    fn input_size(&self) -> usize {
        self.input_size
    }
    #[getter]
    fn classes(&self) -> usize {
        self.classes
    }
    /// "int8" or "f32": the arithmetic the network runs in.
    #[getter]
    fn precision(&self) -> &'static str {
        self.precision
    }
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "Classifier({:?}, precision={:?}, input_size={}, classes={})",
            self.path.display().to_string(),
            self.precision,
            self.input_size,
            self.classes
        )
    }
}

impl Classifier {
    fn byte_batch(&self, batch: &Bound<'_, PyAny>) -> PyResult<Batch> {
        let input = batch::extract(batch, self.input_size)?;
        if matches!(input, Batch::Real { .. }) {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "this call takes uint8 pixel bytes (preprocess() makes them)",
            ));
        }
        Ok(input)
    }
}

/// `data` as an (n, width) array, without copying.
fn rows<T: numpy::Element>(py: Python<'_>, data: Vec<T>, n: usize, width: usize) -> Bound<'_, PyArray2<T>> {
    Array2::from_shape_vec((n, width), data).expect("n rows of width").into_pyarray(py)
}

/// The one result of a single image, or the list of them.
pub fn one_or_list<'py>(
    py: Python<'py>,
    mut results: Vec<Bound<'py, PyAny>>,
    single: bool,
) -> PyResult<Bound<'py, PyAny>> {
    if single && results.len() == 1 {
        return Ok(results.remove(0));
    }
    Ok(PyList::new(py, results)?.into_any())
}
