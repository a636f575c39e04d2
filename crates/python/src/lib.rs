//! The `mnv2._native` extension module: the library's classifier, segmenter, detector, trainer
//! and architecture tables for Python (the package around it is `python/mnv2`). Every call that
//! runs a network, decodes images or trains releases the GIL.

mod batch;
mod classifier;
mod detector;
mod errors;
mod images;
mod options;
mod segmenter;
mod training;
mod values;

use crate::errors::OrPyErr;
use pyo3::prelude::*;

/// The architecture of a MobileNetV2 (or its DeepLab / SSDLite network) as Table 2 lays it out:
/// a dict of its stages with channels, strides, repeats, and the totals (parameters, multiply-adds).
#[pyfunction]
#[pyo3(signature = (width=1.0, resolution=224, classes=1001, task="classify"))]
fn info<'py>(py: Python<'py>, width: f32, resolution: u32, classes: u32, task: &str) -> PyResult<Bound<'py, PyAny>> {
    use mnv2::arch::{Arch, DeepLab, SsdLite, describe};
    let json = match task {
        "classify" => describe::json(&Arch::new(width, resolution, classes).py_err()?),
        "segment" => describe::deeplab_json(&DeepLab::new(width, resolution, classes).py_err()?),
        "detect" => describe::ssdlite_json(&SsdLite::new(width, resolution, classes).py_err()?),
        other => {
            let why = format!("unknown task {other:?} (classify, segment or detect)");
            return Err(pyo3::exceptions::PyValueError::new_err(why));
        }
    };
    values::to_py(py, &json)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("Error", m.py().get_type::<errors::Error>())?;
    m.add_class::<classifier::Classifier>()?;
    m.add_class::<segmenter::Segmenter>()?;
    m.add_class::<detector::Detector>()?;
    m.add_function(wrap_pyfunction!(info, m)?)?;
    m.add_function(wrap_pyfunction!(training::train, m)?)?;
    Ok(())
}
