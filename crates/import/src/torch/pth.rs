//! `torch.save(model.state_dict())` files (a zip of `data.pkl` and one raw storage per tensor)
//! and safetensors files with the same names, read as torchvision's MobileNetV2.

use super::pickle::{self, Dtype, TensorRef};
use super::{BatchNorm, TorchConv, TorchNet};
use crate::ImportError;
use crate::safetensors::{F32Tensor, Tensors};
use std::collections::HashMap;

/// Whether `bytes` look like a PyTorch zip checkpoint.
pub fn is_pth(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
        && crate::zip::stored(bytes).is_some_and(|m| m.iter().any(|(n, _)| n.ends_with("data.pkl")))
}

/// The float tensors of a `state_dict` zip, by name (integer tensors such as
/// `num_batches_tracked` are skipped).
pub fn read_state_dict(bytes: &[u8]) -> Result<Tensors, ImportError> {
    let bad = |why: String| ImportError::Malformed(format!("PyTorch checkpoint: {why}"));
    let members = crate::zip::stored(bytes).ok_or_else(|| bad("not a readable uncompressed zip".into()))?;
    let (pkl_name, pkl) = members
        .iter()
        .find(|(n, _)| n.ends_with("data.pkl"))
        .ok_or_else(|| bad("no data.pkl (saved with the legacy format? re-save with torch.save)".into()))?;
    let prefix = &pkl_name[..pkl_name.len() - "data.pkl".len()];
    if let Some((_, order)) = members.iter().find(|(n, _)| *n == format!("{prefix}byteorder"))
        && *order != b"little"
    {
        return Err(bad("a big-endian checkpoint".into()));
    }
    let storages: HashMap<&str, &[u8]> = members.iter().map(|(n, d)| (n.as_str(), *d)).collect();
    let mut out = Tensors::new();
    for (name, t) in pickle::state_dict(pkl).map_err(bad)? {
        if t.storage.dtype != Dtype::F32 {
            continue;
        }
        let key = format!("{prefix}data/{}", t.storage.key);
        let raw = storages.get(key.as_str()).ok_or_else(|| bad(format!("{name}: no storage {key}")))?;
        let data = gather(raw, &t).map_err(|why| bad(format!("{name}: {why}")))?;
        out.insert(name, F32Tensor { shape: t.shape, data });
    }
    Ok(out)
}

/// The tensor's elements, row-major, from its storage (any strides; every index checked).
fn gather(raw: &[u8], t: &TensorRef) -> Result<Vec<f32>, String> {
    if raw.len() < t.storage.numel.checked_mul(4).ok_or("storage size overflows")? {
        return Err(format!("storage of {} bytes for {} floats", raw.len(), t.storage.numel));
    }
    let numel = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("tensor size overflows")?;
    if numel == 0 {
        return Ok(Vec::new());
    }
    let last = t.shape.iter().zip(&t.stride).try_fold(t.offset, |a, (&d, &s)| a.checked_add((d - 1).checked_mul(s)?));
    if last.is_none_or(|l| l >= t.storage.numel) {
        return Err("a view beyond its storage".into());
    }
    let at = |i: usize| f32::from_le_bytes(raw[4 * i..4 * i + 4].try_into().expect("4 bytes"));
    let mut out = Vec::with_capacity(numel);
    let mut index = vec![0usize; t.shape.len()];
    for _ in 0..numel {
        out.push(at(t.offset + index.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<usize>()));
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < t.shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(out)
}

/// torchvision's parameter names in network order: (conv, batch norm) prefixes.
fn torchvision_units(tensors: &Tensors) -> Vec<(String, String)> {
    let mut units = vec![("features.0.0".to_string(), "features.0.1".to_string())];
    let mut i = 1;
    while tensors.contains_key(&format!("features.{i}.conv.0.0.weight")) {
        let f = format!("features.{i}.conv");
        if tensors.contains_key(&format!("{f}.2.weight")) && tensors.contains_key(&format!("{f}.3.weight")) {
            units.push((format!("{f}.0.0"), format!("{f}.0.1")));
            units.push((format!("{f}.1.0"), format!("{f}.1.1")));
            units.push((format!("{f}.2"), format!("{f}.3")));
        } else {
            units.push((format!("{f}.0.0"), format!("{f}.0.1")));
            units.push((format!("{f}.1"), format!("{f}.2")));
        }
        i += 1;
    }
    units.push((format!("features.{i}.0"), format!("features.{i}.1")));
    units
}

/// torchvision's MobileNetV2 from its `state_dict` tensors.
pub fn torchvision_net(mut t: Tensors) -> Result<TorchNet, ImportError> {
    let missing = |n: &str| ImportError::NotMobileNetV2(format!("no tensor {n} (not torchvision's MobileNetV2 names)"));
    let units = torchvision_units(&t);
    let mut take = |n: String| t.remove(&n).ok_or_else(|| missing(&n));
    let mut convs = Vec::new();
    for (conv, bn) in units {
        let w = take(format!("{conv}.weight"))?;
        let [o, i, kh, kw] = w.shape[..] else {
            return Err(ImportError::NotMobileNetV2(format!("{conv}.weight has shape {:?}, not OIHW", w.shape)));
        };
        let bn = BatchNorm {
            gamma: take(format!("{bn}.weight"))?.data,
            beta: take(format!("{bn}.bias"))?.data,
            mean: take(format!("{bn}.running_mean"))?.data,
            var: take(format!("{bn}.running_var"))?.data,
            eps: 1e-5,
        };
        convs.push(TorchConv {
            name: format!("{conv}.weight"),
            shape: [o, i, kh, kw],
            weight: w.data,
            bias: None,
            bn: Some(bn),
            stride: None,
            relu6: None,
        });
    }
    let w = take("classifier.1.weight".into())?;
    let b = take("classifier.1.bias".into())?;
    let [classes, features] = w.shape[..] else {
        return Err(ImportError::NotMobileNetV2(format!("classifier.1.weight has shape {:?}", w.shape)));
    };
    if b.data.len() != classes {
        return Err(ImportError::NotMobileNetV2(format!(
            "classifier.1.bias has {} values for {classes} classes",
            b.data.len()
        )));
    }
    if let Some(extra) = t.keys().min() {
        return Err(ImportError::NotMobileNetV2(format!("an unexpected tensor {extra}")));
    }
    Ok(TorchNet { convs, fc: (w.data, [classes, features], b.data), residual_after: None })
}
