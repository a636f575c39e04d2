//! Expanding paths given by a user into image files.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Files named directly are kept as they are; directories are walked (sorted, recursively) for
/// image files. Paths that cannot be read are returned as errors, in order. A folder reached a
/// second time (a symbolic link back up the tree, or two links to one folder) is not walked again.
pub fn image_paths(inputs: &[PathBuf]) -> Vec<Result<PathBuf, (PathBuf, String)>> {
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
        } else if crate::is_image_path(&p) {
            out.push(Ok(p));
        }
    }
}
