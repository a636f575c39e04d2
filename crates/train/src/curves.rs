//! A run's learning curves redrawn from its metrics file after every epoch: the loss scaled to
//! its largest value, every training figure that is a fraction and every held-out figure.

use crate::TrainError;
use crate::run_files::RunFiles;
use crate::trainer::Figures;

const COLOURS: [[u8; 3]; 4] = [[40, 160, 60], [40, 120, 200], [150, 80, 190], [220, 150, 30]];

/// Draws `files.curves` from `files.metrics`. A figure never measured (AP with nothing held out)
/// is left out, not drawn as zeros.
pub fn draw(files: &RunFiles, figures: &Figures) -> Result<(), TrainError> {
    let history = files.history()?;
    let get = |k: &str| history.iter().map(|v| v[k].as_f64().unwrap_or(0.0)).collect::<Vec<_>>();
    let loss_max = get("loss").iter().copied().fold(1e-9, f64::max);
    let mut series = vec![("loss (scaled)", [200, 60, 40], get("loss").iter().map(|l| l / loss_max).collect())];
    let measured = |key: &str| history.iter().any(|v| v[key].is_number());
    let shown = figures.train.iter().filter(|m| m.percent).chain(figures.held_out).filter(|m| measured(m.key));
    series.extend(shown.zip(COLOURS.iter().cycle()).map(|(m, &colour)| (m.label, colour, get(m.key))));
    let (title, measure) = figures.curves;
    let y_title = format!("{measure}; loss divided by its largest value ({loss_max:.3})");
    mnv2_image::save_png(&mnv2_image::plot::curves(title, &y_title, &series), &files.curves)?;
    Ok(())
}
