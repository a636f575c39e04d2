//! Learning curves drawn into a PNG: one panel, x = epoch, y = 0..1, a line per series.

use mnv2::image::Rgb8;

/// Draws `series` (name, colour, values in 0..=1 per epoch) on a 640x400 white canvas.
pub fn curves(series: &[(&str, [u8; 3], Vec<f64>)]) -> Rgb8 {
    let (w, h, m) = (640usize, 400usize, 40usize);
    let mut img = Rgb8::new(w, h, vec![255; w * h * 3]);
    let grey = [200, 200, 200];
    for i in 0..=10 {
        let y = m + (h - 2 * m) * i / 10;
        img.fill_rect(m, y, w - 2 * m, 1, grey, 1.0);
        img.draw_text(4, y.saturating_sub(3), &format!("{:.1}", 1.0 - i as f64 / 10.0), 1, [90, 90, 90]);
    }
    img.fill_rect(m, m, 1, h - 2 * m, [0, 0, 0], 1.0);
    img.fill_rect(m, h - m, w - 2 * m, 1, [0, 0, 0], 1.0);
    let epochs = series.iter().map(|s| s.2.len()).max().unwrap_or(0).max(2);
    let px = |e: usize| m + (w - 2 * m) * e / (epochs - 1);
    let py = |v: f64| m + ((1.0 - v.clamp(0.0, 1.0)) * (h - 2 * m) as f64) as usize;
    for (k, (name, color, values)) in series.iter().enumerate() {
        for (e, pair) in values.windows(2).enumerate() {
            line(&mut img, (px(e), py(pair[0])), (px(e + 1), py(pair[1])), *color);
        }
        for (e, &v) in values.iter().enumerate() {
            img.fill_rect(px(e).saturating_sub(2), py(v).saturating_sub(2), 5, 5, *color, 1.0);
        }
        img.fill_rect(w - 190, m + 10 + 16 * k, 12, 8, *color, 1.0);
        img.draw_text(w - 172, m + 10 + 16 * k, name, 1, [0, 0, 0]);
    }
    img.draw_text(w / 2 - 20, h - m + 12, "epoch", 1, [0, 0, 0]);
    img
}

fn line(img: &mut Rgb8, (x0, y0): (usize, usize), (x1, y1): (usize, usize), color: [u8; 3]) {
    let steps = x0.abs_diff(x1).max(y0.abs_diff(y1)).max(1);
    for s in 0..=steps {
        let t = s as f64 / steps as f64;
        let x = x0 as f64 + (x1 as f64 - x0 as f64) * t;
        let y = y0 as f64 + (y1 as f64 - y0 as f64) * t;
        img.fill_rect(x as usize, y as usize, 2, 2, color, 1.0);
    }
}

/// Redraws `plot` from the metrics JSON lines of a training run: the loss scaled to its maximum
/// and the named 0..1 series (label, colour, JSON key).
fn metric_curves(
    metrics: &std::path::Path,
    plot: &std::path::Path,
    series: &[(&str, [u8; 3], &str)],
) -> anyhow::Result<()> {
    let history: Vec<serde_json::Value> =
        std::fs::read_to_string(metrics)?.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let get = |k: &str| history.iter().map(|v| v[k].as_f64().unwrap_or(0.0)).collect::<Vec<_>>();
    let loss_max = get("loss").iter().copied().fold(1e-9, f64::max);
    let mut all = vec![("loss (scaled)", [200, 60, 40], get("loss").iter().map(|l| l / loss_max).collect())];
    all.extend(series.iter().map(|&(name, color, key)| (name, color, get(key))));
    mnv2::image::save_png(&curves(&all), plot)?;
    Ok(())
}

/// Classifier training curves: loss, train and validation top-1.
pub fn training_curves(metrics: &std::path::Path, plot: &std::path::Path) -> anyhow::Result<()> {
    metric_curves(
        metrics,
        plot,
        &[("train top-1", [40, 120, 200], "train_top1"), ("val top-1", [40, 160, 60], "val_top1")],
    )
}

/// Detector training curves: loss, held-out AP@0.5 and COCO AP.
pub fn detection_curves(metrics: &std::path::Path, plot: &std::path::Path) -> anyhow::Result<()> {
    metric_curves(
        metrics,
        plot,
        &[("held-out AP@0.5", [40, 160, 60], "val_ap50"), ("held-out COCO AP", [40, 120, 200], "val_coco_ap")],
    )
}
