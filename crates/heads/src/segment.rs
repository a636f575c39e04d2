//! Semantic segmentation results: class maps, the PASCAL VOC classes and colours, class
//! fractions, and intersection-over-union against ground-truth masks.

/// The 21 PASCAL VOC segmentation classes (index = class id).
pub const PASCAL_VOC: [&str; 21] = [
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
];

/// The PASCAL VOC colour of a class: the bits of the id spread over the three channels,
/// most significant first (class 15, person, is (192, 128, 128)).
pub fn palette(class: u8) -> [u8; 3] {
    let mut rgb = [0u8; 3];
    let mut c = class;
    for shift in (0..8).rev() {
        for (ch, v) in rgb.iter_mut().enumerate() {
            *v |= ((c >> ch) & 1) << shift;
        }
        c >>= 3;
    }
    rgb
}

/// One class id per pixel, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassMap {
    pub width: usize,
    pub height: usize,
    pub classes: Vec<u8>,
}

impl ClassMap {
    pub fn new(width: usize, height: usize, classes: Vec<u8>) -> ClassMap {
        assert_eq!(classes.len(), width * height, "class map size");
        ClassMap { width, height, classes }
    }

    /// The top-left `width` x `height` part.
    pub fn crop(&self, width: usize, height: usize) -> ClassMap {
        let (w, h) = (width.min(self.width), height.min(self.height));
        let mut out = Vec::with_capacity(w * h);
        for y in 0..h {
            out.extend_from_slice(&self.classes[y * self.width..y * self.width + w]);
        }
        ClassMap::new(w, h, out)
    }

    /// Nearest-neighbour resize (pixel centres: source = floor((x + 0.5) * in / out)).
    pub fn resize_nearest(&self, width: usize, height: usize) -> ClassMap {
        let src = |o: usize, out: usize, input: usize| {
            (((o as f64 + 0.5) * input as f64 / out as f64) as usize).min(input - 1)
        };
        let xs: Vec<usize> = (0..width).map(|x| src(x, width, self.width)).collect();
        let mut out = Vec::with_capacity(width * height);
        for y in 0..height {
            let row = src(y, height, self.height) * self.width;
            out.extend(xs.iter().map(|&x| self.classes[row + x]));
        }
        ClassMap::new(width, height, out)
    }

    /// (class, fraction of pixels) for every class present, by class id.
    pub fn fractions(&self) -> Vec<(u8, f64)> {
        let mut counts = [0usize; 256];
        for &c in &self.classes {
            counts[c as usize] += 1;
        }
        let n = self.classes.len().max(1) as f64;
        (0..=255u8).filter(|&c| counts[c as usize] > 0).map(|c| (c, counts[c as usize] as f64 / n)).collect()
    }
}

/// Intersection over union of one class against binary masks, accumulated over a dataset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IouCounter {
    pub intersection: u64,
    pub union: u64,
    /// Per image IoU (images whose prediction and mask are both empty count as 1).
    pub per_image: Vec<f64>,
}

impl IouCounter {
    /// Adds one image: `predicted[i] == class` against `mask[i] > 0`.
    pub fn add(&mut self, predicted: &[u8], class: u8, mask: &[u8]) {
        assert_eq!(predicted.len(), mask.len(), "prediction and mask sizes");
        let (mut inter, mut union) = (0u64, 0u64);
        for (&p, &m) in predicted.iter().zip(mask) {
            let (a, b) = (p == class, m > 0);
            inter += (a && b) as u64;
            union += (a || b) as u64;
        }
        self.intersection += inter;
        self.union += union;
        self.per_image.push(if union == 0 { 1.0 } else { inter as f64 / union as f64 });
    }
    /// Dataset-level IoU: total intersection over total union.
    pub fn dataset_iou(&self) -> f64 {
        if self.union == 0 { 1.0 } else { self.intersection as f64 / self.union as f64 }
    }
    /// Mean of the per-image IoUs.
    pub fn mean_iou(&self) -> f64 {
        if self.per_image.is_empty() { 0.0 } else { self.per_image.iter().sum::<f64>() / self.per_image.len() as f64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voc_palette() {
        assert_eq!(palette(0), [0, 0, 0]);
        assert_eq!(palette(1), [128, 0, 0]);
        assert_eq!(palette(3), [128, 128, 0]);
        assert_eq!(palette(15), [192, 128, 128]);
        assert_eq!(palette(20), [0, 64, 128]);
    }

    #[test]
    fn crop_resize_and_fractions() {
        let m = ClassMap::new(2, 2, vec![1, 2, 3, 4]);
        assert_eq!(m.crop(1, 2).classes, vec![1, 3]);
        assert_eq!(m.resize_nearest(4, 1).classes, vec![3, 3, 4, 4]);
        assert_eq!(m.resize_nearest(1, 1).classes, vec![4]);
        assert_eq!(ClassMap::new(4, 1, vec![0, 15, 15, 0]).fractions(), vec![(0, 0.5), (15, 0.5)]);
    }

    #[test]
    fn iou_by_hand() {
        let mut c = IouCounter::default();
        c.add(&[15, 15, 0, 0], 15, &[1, 0, 1, 0]); // inter 1, union 3
        c.add(&[0, 0], 15, &[0, 0]); // empty: 1.0, adds nothing to the totals
        assert_eq!((c.intersection, c.union), (1, 3));
        assert!((c.dataset_iou() - 1.0 / 3.0).abs() < 1e-12);
        assert!((c.mean_iou() - (1.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
    }
}
