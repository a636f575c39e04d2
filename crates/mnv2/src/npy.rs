//! Minimal NumPy `.npy` reading and writing (version 1 and 2 headers, C order, little-endian).

use crate::Error;

/// Array element data.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    F32(Vec<f32>),
    U8(Vec<u8>),
    I8(Vec<i8>),
}

/// An array read from a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct Npy {
    pub shape: Vec<usize>,
    pub data: NpyData,
}

fn bad(msg: &str) -> Error {
    Error::Npy(format!("bad .npy file: {msg}"))
}

/// Parses `.npy` bytes holding float32, uint8 or int8 values.
pub fn parse(bytes: &[u8]) -> Result<Npy, Error> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("no NUMPY magic"));
    }
    let (header_len, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(bad(&format!("version {v}"))),
    };
    let header = bytes.get(start..start.saturating_add(header_len)).ok_or_else(|| bad("truncated header"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text"))?;
    let field = |key: &str| -> Result<&str, Error> {
        let at = header.find(&format!("'{key}'")).ok_or_else(|| bad(&format!("no '{key}' in header")))?;
        Ok(header[at + key.len() + 2..].trim_start().trim_start_matches(':').trim_start())
    };
    if field("fortran_order")?.starts_with("True") {
        return Err(bad("Fortran order is not supported"));
    }
    let descr = field("descr")?;
    let descr = descr.get(1..).and_then(|d| d.split('\'').next()).ok_or_else(|| bad("descr"))?;
    let shape_text = field("shape")?;
    let shape_text = shape_text.strip_prefix('(').and_then(|s| s.split(')').next()).ok_or_else(|| bad("shape"))?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| bad("shape")))
        .collect::<Result<Vec<_>, _>>()?;
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| bad("shape too large"))?;
    let body = &bytes[start + header_len..];
    let need = |size: usize| -> Result<&[u8], Error> {
        body.get(..count.checked_mul(size).ok_or_else(|| bad("shape too large"))?)
            .ok_or_else(|| bad("data shorter than its shape"))
    };
    let data = match descr {
        "<f4" => NpyData::F32(need(4)?.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()),
        "|u1" | "<u1" => NpyData::U8(need(1)?.to_vec()),
        "|i1" | "<i1" => NpyData::I8(need(1)?.iter().map(|&b| b as i8).collect()),
        other => {
            return Err(bad(&format!("dtype {other} (float32, uint8 or int8 expected)")));
        }
    };
    Ok(Npy { shape, data })
}

fn header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // Pad so that the data starts on a 64-byte boundary, ending in a newline.
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out
}

/// Serialises float32 values as `.npy`.
pub fn f32_bytes(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let mut out = header("<f4", shape);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Serialises uint8 values as `.npy`.
pub fn u8_bytes(shape: &[usize], values: &[u8]) -> Vec<u8> {
    let mut out = header("|u1", shape);
    out.extend_from_slice(values);
    out
}

/// Serialises int8 values as `.npy`.
pub fn i8_bytes(shape: &[usize], values: &[i8]) -> Vec<u8> {
    let mut out = header("|i1", shape);
    out.extend(values.iter().map(|&v| v as u8));
    out
}

/// A batch of NCHW float inputs (PyTorch's layout: `[n, 3, s, s]`) as NHWC, the engine's.
pub fn nchw_to_nhwc(v: &[f32], n: usize, c: usize, h: usize, w: usize) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for b in 0..n {
        for ch in 0..c {
            for p in 0..h * w {
                out[(b * h * w + p) * c + ch] = v[(b * c + ch) * h * w + p];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let b = f32_bytes(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.5]);
        assert_eq!((b.len() - 24) % 64, 0, "data starts on a 64-byte boundary");
        let n = parse(&b).unwrap();
        assert_eq!(n.shape, vec![2, 3]);
        assert_eq!(n.data, NpyData::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5]));
        let u = parse(&u8_bytes(&[4], &[1, 2, 3, 4])).unwrap();
        assert_eq!((u.shape, u.data), (vec![4], NpyData::U8(vec![1, 2, 3, 4])));
    }

    #[test]
    fn numpy_written_header() {
        // What numpy.save writes for np.zeros((1, 2), np.uint8).
        let mut b = b"\x93NUMPY\x01\x00v\x00{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2), }".to_vec();
        while b.len() < 10 + 118 - 1 {
            b.push(b' ');
        }
        b.push(b'\n');
        b.extend_from_slice(&[0, 0]);
        assert_eq!(parse(&b).unwrap().shape, vec![1, 2]);
    }

    #[test]
    fn truncations_are_errors() {
        let b = f32_bytes(&[3], &[1.0, 2.0, 3.0]);
        for n in 0..b.len() {
            assert!(parse(&b[..n]).is_err(), "accepted {n} bytes");
        }
    }
}
