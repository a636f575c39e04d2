//! Reading float32 tensors from a safetensors file (JSON header, then raw little-endian data).

use std::collections::HashMap;

/// A tensor: shape and values.
#[derive(Debug, Clone, PartialEq)]
pub struct F32Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Tensors by name.
pub type Tensors = HashMap<String, F32Tensor>;
/// The `__metadata__` strings.
pub type Metadata = HashMap<String, String>;

/// Every F32 (and I64, as floats) tensor of a safetensors file, and its metadata.
pub fn read(bytes: &[u8]) -> Result<(Tensors, Metadata), String> {
    let n =
        u64::from_le_bytes(bytes.get(..8).ok_or("file shorter than its header length")?.try_into().unwrap()) as usize;
    let header = bytes.get(8..8usize.checked_add(n).ok_or("header too long")?).ok_or("truncated header")?;
    let header: serde_json::Value = serde_json::from_slice(header).map_err(|e| format!("bad header: {e}"))?;
    let data = &bytes[8 + n..];
    let mut tensors = HashMap::new();
    let mut meta = HashMap::new();
    for (name, v) in header.as_object().ok_or("header is not an object")? {
        if name == "__metadata__" {
            for (k, v) in v.as_object().into_iter().flatten() {
                meta.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
            }
            continue;
        }
        let dtype = v["dtype"].as_str().unwrap_or("");
        let size = match dtype {
            "F32" => 4,
            "I64" => 8,
            _ => continue,
        };
        let (shape, raw) = mnv2_import::safetensors::tensor_bytes(name, v, data, size)?;
        let values = match size {
            4 => raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect(),
            _ => raw.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect(),
        };
        tensors.insert(name.clone(), F32Tensor { shape, data: values });
    }
    Ok((tensors, meta))
}

/// Writes float32 tensors (name, shape, values) and metadata as a safetensors file, atomically.
pub fn write(
    path: &std::path::Path,
    tensors: &[(String, Vec<usize>, &[f32])],
    metadata: &Metadata,
) -> std::io::Result<()> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!(metadata));
    let mut offset = 0usize;
    for (name, shape, values) in tensors {
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + 4 * values.len()]}),
        );
        offset += 4 * values.len();
    }
    let mut head = serde_json::to_vec(&serde_json::Value::Object(header)).expect("JSON serialises");
    while !head.len().is_multiple_of(8) {
        head.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + head.len() + offset);
    out.extend_from_slice(&(head.len() as u64).to_le_bytes());
    out.extend_from_slice(&head);
    for (_, _, values) in tensors {
        values.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, out)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    /// Malformed headers are errors, never panics (the first two panicked on indexing).
    #[test]
    fn malformed_tensors_are_errors() {
        for header in [
            r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[]}}"#,
            r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[4]}}"#,
            r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#,
            r#"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
            r#"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
            r#"{"x":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}"#,
            r#"{"x":{"dtype":"F32","data_offsets":[0,4]}}"#,
            r#"[1,2]"#,
        ] {
            assert!(read(&file(header, &[0; 8])).is_err(), "{header}");
        }
        let good = file(r#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, &[0, 0, 128, 63, 0, 0, 0, 64]);
        assert_eq!(read(&good).unwrap().0["x"].data, vec![1.0, 2.0]);
    }
}
