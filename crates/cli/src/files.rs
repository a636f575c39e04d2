//! Expanding command-line paths into image files.

use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Runs `one` on each image of `inputs` (files, and folders walked as [`mnv2::image::image_paths`] does; a
/// progress bar when there are several), printing what it returns; a failure is one error line
/// and the rest go on. Exit status 1 if any failed.
pub fn for_each_image(inputs: &[PathBuf], mut one: impl FnMut(&Path) -> anyhow::Result<String>) -> ExitCode {
    let images = mnv2::image::image_paths(inputs);
    let progress = if images.len() > 1 { ProgressBar::new(images.len() as u64) } else { ProgressBar::hidden() };
    progress.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} images eta {eta}").expect("valid template"));
    let mut failed = 0;
    for item in &images {
        let path = match item {
            Ok(path) => path,
            Err((path, msg)) => {
                failed += 1;
                progress.suspend(|| eprintln!("mnv2: error: {}", with_path(path, msg)));
                progress.inc(1);
                continue;
            }
        };
        match one(path) {
            Ok(text) => progress.suspend(|| println!("{text}")),
            Err(e) => {
                failed += 1;
                progress.suspend(|| eprintln!("mnv2: error: {}", with_path(path, &crate::one_line(&e))));
            }
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// `msg`, prefixed with the path unless it already names it.
pub fn with_path(path: &Path, msg: &str) -> String {
    let shown = path.display().to_string();
    if msg.contains(&shown) { msg.to_string() } else { format!("{shown}: {msg}") }
}

/// Writes a whole file, naming it in the error.
pub fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// Creates the folder an output file goes into (as `--out` folders are created).
pub fn create_parent(path: &Path) -> anyhow::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create the folder {} for {}: {e}", dir.display(), path.display())),
        _ => Ok(()),
    }
}
