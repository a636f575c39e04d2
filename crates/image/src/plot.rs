//! Learning curves as a picture: one panel, x = epoch (numbered), y = 0..1, a line per series.

use crate::Rgb8;

/// Draws `series` (name, colour, values in 0..=1 per epoch) on a 640x400 white canvas: a
/// title, a y axis from 0 to 1 with its title, an x axis with epoch numbers, and a legend.
pub fn curves(title: &str, y_title: &str, series: &[(&str, [u8; 3], Vec<f64>)]) -> Rgb8 {
    let (w, h) = (640usize, 400usize);
    let (left, right, top, bottom) = (44usize, 24usize, 36usize, 44usize);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let mut img = Rgb8::new(w, h, vec![255; w * h * 3]);
    let (grey, dark) = ([210, 210, 210], [90, 90, 90]);
    img.draw_text(left, 8, title, 1, [0, 0, 0]);
    img.draw_text(left, 22, y_title, 1, dark);
    for i in 0..=10 {
        let y = top + ph * i / 10;
        img.fill_rect(left, y, pw, 1, grey, 1.0);
        img.draw_text(8, y.saturating_sub(3), &format!("{:.1}", 1.0 - i as f64 / 10.0), 1, dark);
    }
    img.fill_rect(left, top, 1, ph, [0, 0, 0], 1.0);
    img.fill_rect(left, top + ph, pw, 1, [0, 0, 0], 1.0);
    let epochs = series.iter().map(|s| s.2.len()).max().unwrap_or(0).max(1);
    // Epoch e (1-based) at x; a single epoch sits in the middle.
    let px = |e: usize| if epochs == 1 { left + pw / 2 } else { left + pw * (e - 1) / (epochs - 1) };
    let py = |v: f64| top + ((1.0 - v.clamp(0.0, 1.0)) * ph as f64) as usize;
    // Every epoch numbered when they fit, else every k-th (and the last).
    let step = epochs.div_ceil(20);
    for e in (1..=epochs).filter(|e| (e - 1) % step == 0 || *e == epochs) {
        let label = e.to_string();
        img.fill_rect(px(e), top + ph, 1, 4, [0, 0, 0], 1.0);
        let half = crate::font::text_width(&label, 1) / 2;
        img.draw_text(px(e).saturating_sub(half), top + ph + 7, &label, 1, dark);
    }
    img.draw_text(left + pw / 2 - 15, h - 16, "epoch", 1, [0, 0, 0]);
    for (k, (name, color, values)) in series.iter().enumerate() {
        for (e, pair) in values.windows(2).enumerate() {
            line(&mut img, (px(e + 1), py(pair[0])), (px(e + 2), py(pair[1])), *color);
        }
        for (e, &v) in values.iter().enumerate() {
            img.fill_rect(px(e + 1).saturating_sub(2), py(v).saturating_sub(2), 5, 5, *color, 1.0);
        }
        img.fill_rect(w - right - 150, top + 10 + 16 * k, 12, 8, *color, 1.0);
        img.draw_text(w - right - 132, top + 10 + 16 * k, name, 1, [0, 0, 0]);
    }
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

#[cfg(test)]
mod tests {
    /// Two epochs of a rising series: the canvas is white where nothing is drawn, the legend
    /// swatch has the series' colour, and the points sit where 0.25 and 0.75 of the axis are.
    #[test]
    fn points_land_where_the_axis_says() {
        let red = [200, 0, 0];
        let img = super::curves("t", "y", &[("s", red, vec![0.25, 0.75])]);
        let px = |x: usize, y: usize| {
            let i = (y * img.width + x) * 3;
            [img.data[i], img.data[i + 1], img.data[i + 2]]
        };
        assert_eq!((img.width, img.height), (640, 400));
        assert_eq!(px(600, 390), [255, 255, 255]);
        // Plot area: left 44, width 572, top 36, height 320; epoch 1 at x = 44, epoch 2 at 616.
        assert_eq!(px(44, 36 + (0.75 * 320.0) as usize), red);
        assert_eq!(px(616 - 1, 36 + (0.25 * 320.0) as usize), red);
        assert_eq!(px(640 - 24 - 150 + 5, 36 + 10 + 4), red);
    }
}
