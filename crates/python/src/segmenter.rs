//! `mnv2.Segmenter`: Mobile DeepLabv3 class maps at each image's own size, their summaries and
//! overlays.

use crate::classifier::one_or_list;
use crate::errors::OrPyErr;
use crate::images;
use crate::options::{lock, model_path, options, precision_name};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray3, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::Mutex;

/// A segmentation model loaded and compiled once (calls on one segmenter take turns).
#[pyclass(module = "mnv2", name = "Segmenter", frozen)]
pub struct Segmenter {
    inner: Mutex<mnv2::Segmenter>,
    labels: Vec<String>,
    precision: &'static str,
}

#[pymethods]
impl Segmenter {
    #[new]
    #[pyo3(signature = (path=None, *, threads=0, precision="auto", labels=None))]
    fn new(
        py: Python<'_>,
        path: Option<PathBuf>,
        threads: usize,
        precision: &str,
        labels: Option<PathBuf>,
    ) -> PyResult<Self> {
        let path = model_path(path, mnv2::default_segmentation_model_path)?;
        let options = options(threads, precision, 0.875, labels, "auto")?;
        let s = py.detach(|| mnv2::Segmenter::load(&path, options)).py_err()?;
        Ok(Segmenter {
            labels: s.labels().names().to_vec(),
            precision: precision_name(s.precision()),
            inner: Mutex::new(s),
        })
    }

    /// The class of every pixel: uint8 (H, W) at the image's own size (a list of them for a list
    /// of images).
    fn segment<'py>(&self, py: Python<'py>, images: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let given = images::extract(images)?;
        let maps = py
            .detach(|| -> Result<Vec<_>, mnv2::Error> {
                let decoded = images::decode(given.sources)?;
                let mut s = lock(&self.inner);
                decoded.iter().map(|img| s.segment(img)).collect()
            })
            .py_err()?;
        let arrays = maps
            .into_iter()
            .map(|m| {
                let a = Array2::from_shape_vec((m.height, m.width), m.classes).expect("height x width classes");
                a.into_pyarray(py).into_any()
            })
            .collect();
        one_or_list(py, arrays, given.single)
    }

    /// The classes present in a class map, largest first: `[{"class", "label", "fraction"}, ...]`.
    fn summary<'py>(&self, py: Python<'py>, class_map: PyReadonlyArray2<'py, u8>) -> PyResult<Bound<'py, PyAny>> {
        let map = class_map_of(&class_map)?;
        let labels = lock(&self.inner).labels().clone();
        crate::values::to_py(py, &mnv2::report::classes(&labels, &map))
    }

    /// The image with each class tinted in its PASCAL colour and a legend: uint8 (H, W, 3).
    /// `class_map` is `segment(image)`'s (computed here when not given).
    #[pyo3(signature = (image, class_map=None))]
    fn overlay<'py>(
        &self,
        py: Python<'py>,
        image: &Bound<'py, PyAny>,
        class_map: Option<PyReadonlyArray2<'py, u8>>,
    ) -> PyResult<Bound<'py, PyArray3<u8>>> {
        let given = images::extract(image)?;
        if given.sources.len() != 1 {
            return Err(PyValueError::new_err("overlay takes one image"));
        }
        let map = class_map.as_ref().map(class_map_of).transpose()?;
        let out = py
            .detach(|| -> Result<_, mnv2::Error> {
                let img = images::decode(given.sources)?.remove(0);
                let mut s = lock(&self.inner);
                let map = match map {
                    Some(m) if (m.width, m.height) == (img.width, img.height) => m,
                    Some(m) => {
                        let why =
                            format!("class map {}x{} for an image {}x{}", m.width, m.height, img.width, img.height);
                        return Err(mnv2::Error::Input(why));
                    }
                    None => s.segment(&img)?,
                };
                Ok(s.overlay(&img, &map))
            })
            .py_err()?;
        Ok(images::to_numpy(py, out))
    }

    /// Class names, index order (PASCAL VOC for the released models).
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.labels.clone()
    }
    #[getter]
    fn precision(&self) -> &'static str {
        self.precision
    }
    fn __repr__(&self) -> String {
        format!("Segmenter(precision={:?}, classes={})", self.precision, self.labels.len())
    }
}

fn class_map_of(a: &PyReadonlyArray2<'_, u8>) -> PyResult<mnv2::heads::ClassMap> {
    let (h, w) = (a.shape()[0], a.shape()[1]);
    Ok(mnv2::heads::ClassMap::new(w, h, a.as_array().iter().copied().collect()))
}
