//! The architecture as people read it: Table 2's columns (input, operator, t, c, stride,
//! output) with each layer's parameters and multiply-adds, as text or as JSON, for a classifier,
//! Mobile DeepLabv3 and SSDLite.

use crate::{Arch, DeepLab, Layer, SsdLite};
use serde_json::{Value, json};
use std::fmt::Write;

/// (t, c, stride) as the table shows them.
fn tcs(layer: &Layer) -> (String, u32, String) {
    match layer {
        Layer::Stem(c) | Layer::Head(c) | Layer::Classifier(c) => ("-".into(), c.output.c, c.stride.to_string()),
        Layer::Bottleneck(b) => {
            let s = if b.dilation > 1 { format!("{} (rate {})", b.stride, b.dilation) } else { b.stride.to_string() };
            (b.expansion.to_string(), b.out, s)
        }
        Layer::Pool { output, .. } => ("-".into(), output.c, "-".into()),
    }
}

/// The column titles and one row per layer, the stride column `stride` characters wide.
fn rows(out: &mut String, layers: &[Layer], stride: usize) {
    let head = ["input", "operator", "t", "c", "stride", "output", "params", "MACs"];
    let _ = writeln!(
        out,
        "{:<14} {:<24} {:>2} {:>5} {:>stride$} {:<14} {:>10} {:>13}",
        head[0], head[1], head[2], head[3], head[4], head[5], head[6], head[7]
    );
    for l in layers {
        let (t, c, s) = tcs(l);
        let (input, output) = (l.input().to_string(), l.output().to_string());
        let (op, params, macs) = (l.operator(), l.weight_params(), l.macs());
        let _ = writeln!(out, "{input:<14} {op:<24} {t:>2} {c:>5} {s:>stride$} {output:<14} {params:>10} {macs:>13}");
    }
}

/// A classifier's table and totals.
pub fn table(arch: &Arch) -> String {
    let mut out = format!("MobileNetV2 width {} resolution {} classes {}\n", arch.width, arch.resolution, arch.classes);
    rows(&mut out, &arch.layers(), 6);
    let (p, tp, m) = (arch.params(), arch.trainable_params(), arch.macs());
    let _ = write!(
        out,
        "total: {p} weights ({:.2} M), {tp} trainable with batch norm ({:.2} M), {m} multiply-adds ({:.1} M)",
        p as f64 / 1e6,
        tp as f64 / 1e6,
        m as f64 / 1e6
    );
    out
}

/// A classifier as JSON: each layer with its columns, and the totals.
pub fn json(arch: &Arch) -> Value {
    let layers: Vec<_> = arch
        .layers()
        .iter()
        .map(|l| {
            let (t, c, s) = tcs(l);
            let (i, o) = (l.input(), l.output());
            json!({"input": [i.h, i.w, i.c], "operator": l.operator(), "t": t.parse::<u32>().ok(), "c": c,
                "stride": s, "output": [o.h, o.w, o.c], "params": l.weight_params(), "macs": l.macs(), "layer": l})
        })
        .collect();
    json!({"width": arch.width, "resolution": arch.resolution, "classes": arch.classes, "layers": layers,
        "params": arch.params(), "trainable_params": arch.trainable_params(), "macs": arch.macs()})
}

/// Mobile DeepLabv3: the feature extractor's layers, then the head's, and the totals.
pub fn deeplab_table(d: &DeepLab) -> String {
    let b = &d.backbone;
    let mut out = format!(
        "Mobile DeepLabv3: MobileNetV2 width {} at output stride {}, resolution {}, {} classes\n",
        b.width, b.output_stride, b.resolution, b.classes
    );
    rows(&mut out, &d.backbone_layers(), 12);
    for h in d.head_layers() {
        let (name, params, macs) = (h.name(), h.weight_params(), h.macs());
        let _ =
            writeln!(out, "{:<14} {name:<24} {:>2} {:>5} {:>12} {:<14} {params:>10} {macs:>13}", "", "-", "", "", "");
    }
    let (p, m) = (d.params(), d.macs());
    let _ = write!(out, "total: {p} weights ({:.2} M), {m} multiply-adds ({:.2} B)", p as f64 / 1e6, m as f64 / 1e9);
    out
}

/// Mobile DeepLabv3 as JSON.
pub fn deeplab_json(d: &DeepLab) -> Value {
    let b = &d.backbone;
    let backbone: Vec<_> = d
        .backbone_layers()
        .iter()
        .map(|l| json!({"layer": l, "params": l.weight_params(), "macs": l.macs()}))
        .collect();
    let head: Vec<_> =
        d.head_layers().iter().map(|l| json!({"layer": l, "params": l.weight_params(), "macs": l.macs()})).collect();
    json!({"task": "segment", "width": b.width, "resolution": b.resolution, "classes": b.classes,
        "output_stride": b.output_stride, "backbone": backbone, "head": head, "params": d.params(), "macs": d.macs()})
}

/// SSDLite: feature maps, anchors, parameters and multiply-adds.
pub fn ssdlite_table(s: &SsdLite) -> String {
    let b = &s.backbone;
    let mut out = format!(
        "SSDLite: MobileNetV2 width {} at resolution {}, {} classes + background\n",
        b.width,
        b.resolution,
        b.classes - 1
    );
    let _ = writeln!(out, "{:<16} {:>8}", "feature map", "anchors");
    for (m, a) in s.feature_maps().iter().zip(crate::ANCHORS_PER_LAYER) {
        let _ = writeln!(out, "{:<16} {:>8}", format!("{}x{}x{}", m.h, m.w, m.c), m.h * m.w * a);
    }
    let _ = writeln!(out, "anchors: {}", s.anchors());
    let _ = writeln!(out, "params: {} ({:.2} M)", s.params(), s.params() as f64 / 1e6);
    let _ = write!(out, "multiply-adds: {} ({:.2} B)", s.macs(), s.macs() as f64 / 1e9);
    out
}

/// SSDLite as JSON.
pub fn ssdlite_json(s: &SsdLite) -> Value {
    let b = &s.backbone;
    let maps: Vec<_> = s.feature_maps().iter().map(|m| [m.h, m.w, m.c]).collect();
    let head: Vec<_> =
        s.head_layers().iter().map(|l| json!({"layer": l, "params": l.weight_params(), "macs": l.macs()})).collect();
    json!({"task": "detect", "width": b.width, "resolution": b.resolution, "classes_with_background": b.classes,
        "feature_maps": maps, "anchors": s.anchors(), "head": head, "params": s.params(), "macs": s.macs()})
}
