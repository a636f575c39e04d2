//! `mnv2.Detector`: SSDLite boxes in each image's own pixels, and the picture with them drawn.

use crate::classifier::one_or_list;
use crate::errors::OrPyErr;
use crate::images;
use crate::options::{lock, model_path, options};
use numpy::PyArray3;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::PathBuf;
use std::sync::Mutex;

/// An SSDLite detector loaded and compiled once (runs in float32; calls take turns).
#[pyclass(module = "mnv2", name = "Detector", frozen)]
pub struct Detector {
    inner: Mutex<mnv2::Detector>,
    labels: Vec<String>,
}

#[pymethods]
impl Detector {
    #[new]
    #[pyo3(signature = (path=None, *, threads=0, labels=None))]
    fn new(py: Python<'_>, path: Option<PathBuf>, threads: usize, labels: Option<PathBuf>) -> PyResult<Self> {
        let path = model_path(path, mnv2::default_detection_model_path)?;
        let options = options(threads, "f32", 0.875, labels, "auto")?;
        let d = py.detach(|| mnv2::Detector::load(&path, options)).py_err()?;
        Ok(Detector { labels: d.labels().names().to_vec(), inner: Mutex::new(d) })
    }

    /// Objects found with a score of at least `score_threshold`, best first:
    /// `[{"box": [x0, y0, x1, y1], "label", "class", "score"}, ...]`, corners in the image's
    /// pixels (a list of those for a list of images).
    #[pyo3(signature = (images, score_threshold=0.3))]
    fn detect<'py>(
        &self,
        py: Python<'py>,
        images: &Bound<'py, PyAny>,
        score_threshold: f32,
    ) -> PyResult<Bound<'py, PyAny>> {
        check_threshold(score_threshold)?;
        let given = images::extract(images)?;
        let found = py
            .detach(|| -> Result<Vec<_>, mnv2::Error> {
                let decoded = images::decode(given.sources)?;
                let mut d = lock(&self.inner);
                decoded.iter().map(|img| d.detect(img)).collect()
            })
            .py_err()?;
        let lists = found
            .iter()
            .map(|boxes| {
                let list = PyList::empty(py);
                for b in boxes.iter().filter(|b| b.score >= score_threshold) {
                    let d = PyDict::new(py);
                    d.set_item("box", b.bbox.to_vec())?;
                    d.set_item("label", &b.label)?;
                    d.set_item("class", b.class)?;
                    d.set_item("score", b.score)?;
                    list.append(d)?;
                }
                Ok(list.into_any())
            })
            .collect::<PyResult<Vec<_>>>()?;
        one_or_list(py, lists, given.single)
    }

    /// The image with the boxes of score >= `score_threshold` drawn and labelled: uint8 (H, W, 3).
    #[pyo3(signature = (image, score_threshold=0.3))]
    fn draw<'py>(
        &self,
        py: Python<'py>,
        image: &Bound<'py, PyAny>,
        score_threshold: f32,
    ) -> PyResult<Bound<'py, PyArray3<u8>>> {
        check_threshold(score_threshold)?;
        let given = images::extract(image)?;
        if given.sources.len() != 1 {
            return Err(PyValueError::new_err("draw takes one image"));
        }
        let out = py
            .detach(|| -> Result<_, mnv2::Error> {
                let img = images::decode(given.sources)?.remove(0);
                let mut d = lock(&self.inner);
                let boxes = d.detect(&img)?;
                Ok(d.draw(&img, &boxes, score_threshold))
            })
            .py_err()?;
        Ok(images::to_numpy(py, out))
    }

    /// Class names, slot order (slot 0 is the background).
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.labels.clone()
    }
    fn __repr__(&self) -> String {
        format!("Detector(classes={:?})", &self.labels[1.min(self.labels.len())..])
    }
}

fn check_threshold(t: f32) -> PyResult<()> {
    if (0.0..=1.0).contains(&t) {
        Ok(())
    } else {
        Err(PyValueError::new_err(format!("score_threshold must be from 0 to 1, got {t}")))
    }
}
