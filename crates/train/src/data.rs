//! Image-folder datasets (one sub-folder per class) and seeded shuffling.

use std::path::{Path, PathBuf};

/// The images of a folder-per-class dataset, classes in name order.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFolder {
    pub classes: Vec<String>,
    /// (path, class index), sorted by class then path.
    pub items: Vec<(PathBuf, usize)>,
}

impl ImageFolder {
    pub fn open(root: &Path) -> Result<ImageFolder, crate::TrainError> {
        Self::open_folders(root).map_err(crate::TrainError::Data)
    }

    fn open_folders(root: &Path) -> Result<ImageFolder, String> {
        let read = |p: &Path| std::fs::read_dir(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
        let mut classes: Vec<String> = read(root)?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        classes.sort();
        if classes.is_empty() {
            return Err(format!("{} has no class sub-folders", root.display()));
        }
        let mut items = Vec::new();
        for (ci, c) in classes.iter().enumerate() {
            let mut files: Vec<PathBuf> = read(&root.join(c))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| mnv2_image::is_image_path(p))
                .collect();
            files.sort();
            items.extend(files.into_iter().map(|p| (p, ci)));
        }
        if items.is_empty() {
            return Err(format!("{} has no images", root.display()));
        }
        Ok(ImageFolder { classes, items })
    }

    /// Drops the images that cannot be used (unreadable, not an image, truncated, over the
    /// limits; checked from their headers, without decoding) and returns why each was dropped.
    pub fn drop_unreadable(&mut self) -> Vec<String> {
        let limits = mnv2_limits::Limits::global();
        let mut dropped = Vec::new();
        self.items.retain(|(path, _)| match mnv2_image::check_image(path, &limits) {
            Ok(_) => true,
            Err(e) => {
                dropped.push(e.to_string());
                false
            }
        });
        dropped
    }
}

/// Most images a training run skips: 5% of the set (at least one); more stops it, as a sign
/// that the folder is not what was meant.
pub fn max_skipped(total: usize) -> usize {
    (total / 20).max(1)
}

/// A small, seedable generator (splitmix64) for shuffling and augmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffles_are_seeded_permutations() {
        let mut a: Vec<u32> = (0..50).collect();
        let mut b = a.clone();
        Rng(7).shuffle(&mut a);
        Rng(7).shuffle(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..50).collect::<Vec<_>>());
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
    }
}
