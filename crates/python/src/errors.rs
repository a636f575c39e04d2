//! The library's errors as Python exceptions: `mnv2.Error` for what the library refuses (a bad
//! model file, an image too large, a failed training run), `FileNotFoundError` for a path that is
//! not there; the message is the library's own line.

use pyo3::PyErr;
use pyo3::exceptions::{PyException, PyFileNotFoundError};

pyo3::create_exception!(mnv2, Error, PyException, "An error of the mnv2 library; the message says what and where.");

/// A library error as the Python exception a caller would catch.
pub fn to_py(e: mnv2::Error) -> PyErr {
    // The io::Error, if any, at the bottom of the chain (an image, a model, a labels file).
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    let mut not_found = matches!(e, mnv2::Error::ModelNotFound { .. });
    while let Some(c) = cause {
        not_found |= c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound);
        cause = c.source();
    }
    if not_found { PyFileNotFoundError::new_err(e.to_string()) } else { Error::new_err(e.to_string()) }
}

/// `Result<T, mnv2::Error>` to `PyResult<T>`.
pub trait OrPyErr<T> {
    fn py_err(self) -> pyo3::PyResult<T>;
}

impl<T, E: Into<mnv2::Error>> OrPyErr<T> for Result<T, E> {
    fn py_err(self) -> pyo3::PyResult<T> {
        self.map_err(|e| to_py(e.into()))
    }
}
