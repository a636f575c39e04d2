//! Expanding command-line paths into image files.

use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Runs `one` on each image of `inputs` (files, and folders walked as [`expand`] does; a
/// progress bar when there are several), printing what it returns; a failure is one error line
/// and the rest go on. Exit status 1 if any failed.
pub fn for_each_image(inputs: &[PathBuf], mut one: impl FnMut(&Path) -> anyhow::Result<String>) -> ExitCode {
    let images = expand(inputs);
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

/// Files named directly are kept as they are; directories are walked (sorted, recursively) for
/// image files. Paths that cannot be read are returned as errors, in order. A folder reached a
/// second time (a symbolic link back up the tree, or two links to one folder) is not walked again.
pub fn expand(inputs: &[PathBuf]) -> Vec<Result<PathBuf, (PathBuf, String)>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for p in inputs {
        if p.is_dir() {
            walk(p, &mut seen, &mut out);
        } else {
            out.push(Ok(p.clone()));
        }
    }
    out
}

fn walk(dir: &Path, seen: &mut HashSet<PathBuf>, out: &mut Vec<Result<PathBuf, (PathBuf, String)>>) {
    match std::fs::canonicalize(dir) {
        Ok(real) => {
            if !seen.insert(real) {
                return;
            }
        }
        Err(e) => return out.push(Err((dir.to_path_buf(), e.to_string()))),
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return out.push(Err((dir.to_path_buf(), e.to_string()))),
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, seen, out);
        } else if mnv2::image::is_image_path(&p) {
            out.push(Ok(p));
        }
    }
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
