//! Images from Python: a path (str or os.PathLike), encoded file bytes, a numpy uint8 array
//! (H, W, 3) or a batch of them (N, H, W, 3), or a PIL image; one of them or a list. The Python
//! objects are read while the GIL is held; files are decoded after it is released.

use mnv2::Limits;
use mnv2::image::Rgb8;
use numpy::{PyArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use std::path::PathBuf;

/// One image as it came from Python, before decoding.
pub enum Source {
    Path(PathBuf),
    Encoded(Vec<u8>),
    Pixels(Rgb8),
}

/// The images of one call, and whether the caller gave a single image (then it gets a single
/// result back, not a list).
pub struct Images {
    pub sources: Vec<Source>,
    pub single: bool,
}

/// Reads `obj` (one image, a list or tuple of images, or an (N, H, W, 3) array).
pub fn extract(obj: &Bound<'_, PyAny>) -> PyResult<Images> {
    let mut sources = Vec::new();
    let items = if let Ok(list) = obj.cast::<PyList>() {
        Some(list.iter().collect::<Vec<_>>())
    } else {
        obj.cast::<PyTuple>().ok().map(|t| t.iter().collect())
    };
    let single = match items {
        Some(items) => {
            for item in &items {
                extract_one(item, &mut sources)?;
            }
            false
        }
        None => {
            let batch = obj.cast::<PyUntypedArray>().is_ok_and(|a| a.ndim() == 4);
            extract_one(obj, &mut sources)?;
            !batch
        }
    };
    Ok(Images { sources, single })
}

fn extract_one(obj: &Bound<'_, PyAny>, out: &mut Vec<Source>) -> PyResult<()> {
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        out.push(Source::Encoded(bytes.as_bytes().to_vec()));
    } else if let Ok(array) = obj.cast::<PyUntypedArray>() {
        pixels(array, out)?;
    } else if obj.hasattr("convert")? && obj.hasattr("tobytes")? && obj.hasattr("size")? {
        out.push(Source::Pixels(pil_image(obj)?));
    } else if let Ok(path) = obj.extract::<PathBuf>() {
        out.push(Source::Path(path));
    } else {
        let kind = obj.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "expected an image: a path, encoded bytes, a numpy uint8 array (H, W, 3) or (N, H, W, 3), \
             or a PIL image; got {kind}"
        )));
    }
    Ok(())
}

/// The images of a uint8 array (H, W, 3) or (N, H, W, 3), copied (the array stays the caller's).
fn pixels(array: &Bound<'_, PyUntypedArray>, out: &mut Vec<Source>) -> PyResult<()> {
    let shape = array.shape().to_vec();
    let Ok(array) = array.cast::<PyArrayDyn<u8>>() else {
        let dtype = array.dtype().str()?.to_string();
        return Err(PyTypeError::new_err(format!("image arrays must be uint8, got dtype {dtype}")));
    };
    let (n, h, w) = match shape[..] {
        [h, w, 3] => (1, h, w),
        [n, h, w, 3] => (n, h, w),
        _ => {
            return Err(PyValueError::new_err(format!(
                "image arrays must be (H, W, 3) or (N, H, W, 3) RGB, got shape {shape:?}"
            )));
        }
    };
    if h == 0 || w == 0 {
        return Err(PyValueError::new_err(format!("empty image: shape {shape:?}")));
    }
    Limits::global().check_pixels(w as u32, h as u32).map_err(|e| crate::errors::to_py(e.into()))?;
    let all = crate::batch::copy_out(array);
    let len = h * w * 3;
    out.extend((0..n).map(|i| Source::Pixels(Rgb8::new(w, h, all[i * len..(i + 1) * len].to_vec()))));
    Ok(())
}

/// A PIL image's pixels in RGB.
fn pil_image(obj: &Bound<'_, PyAny>) -> PyResult<Rgb8> {
    let rgb = obj.call_method1("convert", ("RGB",))?;
    let (w, h): (usize, usize) = rgb.getattr("size")?.extract()?;
    Limits::global().check_pixels(w as u32, h as u32).map_err(|e| crate::errors::to_py(e.into()))?;
    let data: Vec<u8> = rgb.call_method0("tobytes")?.cast::<PyBytes>()?.as_bytes().to_vec();
    if data.len() != w * h * 3 {
        return Err(PyValueError::new_err(format!("PIL image of {w}x{h} gave {} bytes", data.len())));
    }
    Ok(Rgb8::new(w, h, data))
}

/// An RGB image as a uint8 (H, W, 3) array, its pixels handed over without a copy.
pub fn to_numpy(py: Python<'_>, img: Rgb8) -> Bound<'_, numpy::PyArray3<u8>> {
    use numpy::IntoPyArray;
    numpy::ndarray::Array3::from_shape_vec((img.height, img.width, 3), img.data).expect("RGB").into_pyarray(py)
}

/// Decodes the sources (run without the GIL).
pub fn decode(sources: Vec<Source>) -> Result<Vec<Rgb8>, mnv2::Error> {
    sources
        .into_iter()
        .map(|s| match s {
            Source::Path(p) => Ok(mnv2::image::load_rgb(p)?),
            Source::Encoded(bytes) => Ok(mnv2::image::decode_rgb(&bytes, "image bytes")?),
            Source::Pixels(img) => Ok(img),
        })
        .collect()
}
