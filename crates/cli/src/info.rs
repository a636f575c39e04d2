//! `mnv2 info`: the architecture as a table.

use crate::args::InfoArgs;
use anyhow::Context;
use mnv2::arch::{Arch, DeepLab, Layer, SsdLite};
use serde_json::json;
use std::process::ExitCode;

pub fn main(a: InfoArgs) -> anyhow::Result<ExitCode> {
    let (arch, deeplab) = match &a.model {
        Some(path) => {
            let m = mnv2::import::load(path).with_context(|| format!("loading {}", path.display()))?;
            if let Some(ssd) = m.ssdlite() {
                return print_ssdlite(&ssd, a.json);
            }
            (m.arch, m.deeplab())
        }
        None => match a.task.as_str() {
            "classify" => (Arch::new(a.width, a.resolution, a.classes)?, None),
            "segment" => {
                let d = DeepLab::new(a.width, a.resolution, a.classes)?;
                (d.backbone, Some(d))
            }
            "detect" => return print_ssdlite(&SsdLite::new(a.width, a.resolution, a.classes)?, a.json),
            other => anyhow::bail!("unknown --task {other:?} (classify, segment or detect)"),
        },
    };
    if let Some(d) = deeplab {
        print_deeplab(&d, a.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&to_json(&arch))?);
    } else {
        print_table(&arch);
    }
    Ok(ExitCode::SUCCESS)
}

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

fn print_table(arch: &Arch) {
    println!("MobileNetV2 width {} resolution {} classes {}", arch.width, arch.resolution, arch.classes);
    println!(
        "{:<14} {:<24} {:>2} {:>5} {:>6} {:<14} {:>10} {:>13}",
        "input", "operator", "t", "c", "stride", "output", "params", "MACs"
    );
    for layer in arch.layers() {
        let (t, c, s) = tcs(&layer);
        println!(
            "{:<14} {:<24} {:>2} {:>5} {:>6} {:<14} {:>10} {:>13}",
            layer.input().to_string(),
            layer.operator(),
            t,
            c,
            s,
            layer.output().to_string(),
            layer.weight_params(),
            layer.macs()
        );
    }
    println!(
        "total: {} weights ({:.2} M), {} trainable with batch norm ({:.2} M), {} multiply-adds ({:.1} M)",
        arch.params(),
        arch.params() as f64 / 1e6,
        arch.trainable_params(),
        arch.trainable_params() as f64 / 1e6,
        arch.macs(),
        arch.macs() as f64 / 1e6
    );
}

fn to_json(arch: &Arch) -> serde_json::Value {
    let layers: Vec<_> = arch
        .layers()
        .iter()
        .map(|l| {
            let (t, c, s) = tcs(l);
            json!({
                "input": [l.input().h, l.input().w, l.input().c],
                "operator": l.operator(),
                "t": t.parse::<u32>().ok(),
                "c": c,
                "stride": s,
                "output": [l.output().h, l.output().w, l.output().c],
                "params": l.weight_params(),
                "macs": l.macs(),
                "layer": l,
            })
        })
        .collect();
    json!({
        "width": arch.width,
        "resolution": arch.resolution,
        "classes": arch.classes,
        "layers": layers,
        "params": arch.params(),
        "trainable_params": arch.trainable_params(),
        "macs": arch.macs(),
    })
}

/// Mobile DeepLabv3: the feature extractor's layers, then the head's.
fn print_deeplab(d: &DeepLab, as_json: bool) -> anyhow::Result<()> {
    let b = &d.backbone;
    if as_json {
        let backbone: Vec<_> = d
            .backbone_layers()
            .iter()
            .map(|l| json!({"layer": l, "params": l.weight_params(), "macs": l.macs()}))
            .collect();
        let head: Vec<_> = d
            .head_layers()
            .iter()
            .map(|l| json!({"layer": l, "params": l.weight_params(), "macs": l.macs()}))
            .collect();
        let v = json!({"task": "segment", "width": b.width, "resolution": b.resolution, "classes": b.classes,
            "output_stride": b.output_stride, "backbone": backbone, "head": head, "params": d.params(), "macs": d.macs()});
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "Mobile DeepLabv3: MobileNetV2 width {} at output stride {}, resolution {}, {} classes",
        b.width, b.output_stride, b.resolution, b.classes
    );
    println!(
        "{:<14} {:<24} {:>2} {:>5} {:>12} {:<14} {:>10} {:>13}",
        "input", "operator", "t", "c", "stride", "output", "params", "MACs"
    );
    for layer in d.backbone_layers() {
        let (t, c, s) = tcs(&layer);
        println!(
            "{:<14} {:<24} {:>2} {:>5} {:>12} {:<14} {:>10} {:>13}",
            layer.input().to_string(),
            layer.operator(),
            t,
            c,
            s,
            layer.output().to_string(),
            layer.weight_params(),
            layer.macs()
        );
    }
    for h in d.head_layers() {
        println!(
            "{:<14} {:<24} {:>2} {:>5} {:>12} {:<14} {:>10} {:>13}",
            "",
            h.name(),
            "-",
            "",
            "",
            "",
            h.weight_params(),
            h.macs()
        );
    }
    println!(
        "total: {} weights ({:.2} M), {} multiply-adds ({:.2} B)",
        d.params(),
        d.params() as f64 / 1e6,
        d.macs(),
        d.macs() as f64 / 1e9
    );
    Ok(())
}

/// SSDLite: feature maps, anchors, head layers and totals.
fn print_ssdlite(s: &SsdLite, as_json: bool) -> anyhow::Result<ExitCode> {
    let b = &s.backbone;
    let maps: Vec<_> = s.feature_maps().iter().map(|m| [m.h, m.w, m.c]).collect();
    if as_json {
        let head: Vec<_> = s
            .head_layers()
            .iter()
            .map(|l| json!({"layer": l, "params": l.weight_params(), "macs": l.macs()}))
            .collect();
        let v = json!({"task": "detect", "width": b.width, "resolution": b.resolution,
            "classes_with_background": b.classes, "feature_maps": maps, "anchors": s.anchors(),
            "head": head, "params": s.params(), "macs": s.macs()});
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "SSDLite: MobileNetV2 width {} at resolution {}, {} classes + background",
        b.width,
        b.resolution,
        b.classes - 1
    );
    println!("{:<16} {:>8}", "feature map", "anchors");
    for (m, a) in s.feature_maps().iter().zip(mnv2::arch::ANCHORS_PER_LAYER) {
        println!("{:<16} {:>8}", format!("{}x{}x{}", m.h, m.w, m.c), m.h * m.w * a);
    }
    println!("anchors: {}", s.anchors());
    println!("params: {} ({:.2} M)", s.params(), s.params() as f64 / 1e6);
    println!("multiply-adds: {} ({:.2} B)", s.macs(), s.macs() as f64 / 1e9);
    Ok(ExitCode::SUCCESS)
}
