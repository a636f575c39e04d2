//! Expanding command-line paths into image files.

use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Runs `one` on each image (a progress bar when there are several), printing what it returns;
/// a failure is one error line and the rest go on. Exit status 1 if any failed.
pub fn for_each_image(images: &[PathBuf], mut one: impl FnMut(&Path) -> anyhow::Result<String>) -> ExitCode {
    let progress = if images.len() > 1 { ProgressBar::new(images.len() as u64) } else { ProgressBar::hidden() };
    progress.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} images eta {eta}").expect("valid template"));
    let mut failed = 0;
    for path in images {
        match one(path) {
            Ok(text) => progress.suspend(|| println!("{text}")),
            Err(e) => {
                failed += 1;
                progress.suspend(|| eprintln!("mnv2: error: {}: {}", path.display(), crate::one_line(&e)));
            }
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "bmp", "webp", "jfif"];

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Files named directly are kept as they are; directories are walked (sorted, recursively) for
/// image files. Paths that cannot be read are returned as errors, in order.
pub fn expand(inputs: &[PathBuf]) -> Vec<Result<PathBuf, (PathBuf, String)>> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            walk(p, &mut out);
        } else {
            out.push(Ok(p.clone()));
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<Result<PathBuf, (PathBuf, String)>>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return out.push(Err((dir.to_path_buf(), e.to_string()))),
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, out);
        } else if is_image(&p) {
            out.push(Ok(p));
        }
    }
}
