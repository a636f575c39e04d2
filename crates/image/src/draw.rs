//! Drawing into RGB images: filled rectangles, blending, and text in the bitmap font.

use crate::Rgb8;
use crate::font;

impl Rgb8 {
    /// Sets pixel (x, y) if it lies inside the image.
    pub fn put(&mut self, x: usize, y: usize, color: [u8; 3]) {
        if x < self.width && y < self.height {
            let i = (y * self.width + x) * 3;
            self.data[i..i + 3].copy_from_slice(&color);
        }
    }

    /// Blends `color` over pixel (x, y) with opacity `alpha` (0..=1).
    pub fn blend(&mut self, x: usize, y: usize, color: [u8; 3], alpha: f32) {
        if x < self.width && y < self.height {
            let i = (y * self.width + x) * 3;
            for (p, c) in self.data[i..i + 3].iter_mut().zip(color) {
                *p = (*p as f32 * (1.0 - alpha) + c as f32 * alpha).round().clamp(0.0, 255.0) as u8;
            }
        }
    }

    /// A filled rectangle, blended with opacity `alpha`, clipped to the image.
    pub fn fill_rect(&mut self, x: usize, y: usize, w: usize, h: usize, color: [u8; 3], alpha: f32) {
        for yy in y..(y + h).min(self.height) {
            for xx in x..(x + w).min(self.width) {
                self.blend(xx, yy, color, alpha);
            }
        }
    }

    /// The outline of the rectangle with corners (x0, y0) and (x1, y1) inclusive, `thickness`
    /// pixels wide inward, clipped to the image.
    pub fn draw_rect(&mut self, x0: usize, y0: usize, x1: usize, y1: usize, thickness: usize, color: [u8; 3]) {
        let (x1, y1) = (x1.max(x0), y1.max(y0));
        let t = thickness.max(1);
        for d in 0..t {
            for x in x0..=x1 {
                self.put(x, y0 + d, color);
                self.put(x, y1.saturating_sub(d), color);
            }
            for y in y0..=y1 {
                self.put(x0 + d, y, color);
                self.put(x1.saturating_sub(d), y, color);
            }
        }
    }

    /// Draws `text` with its top-left corner at (x, y), each font pixel `scale` image pixels.
    pub fn draw_text(&mut self, x: usize, y: usize, text: &str, scale: usize, color: [u8; 3]) {
        for (i, c) in text.chars().enumerate() {
            let ox = x + i * font::ADVANCE * scale;
            for fy in 0..font::GLYPH_H {
                for fx in 0..font::GLYPH_W {
                    if font::pixel(c, fx, fy) {
                        for sy in 0..scale {
                            for sx in 0..scale {
                                self.put(ox + fx * scale + sx, y + fy * scale + sy, color);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Rgb8;

    #[test]
    fn text_and_rects_stay_inside() {
        let mut img = Rgb8::new(10, 10, vec![0; 300]);
        img.fill_rect(8, 8, 5, 5, [255, 0, 0], 1.0);
        assert_eq!(&img.data[(9 * 10 + 9) * 3..][..3], &[255, 0, 0]);
        img.draw_text(0, 0, "l", 1, [0, 255, 0]);
        // 'l' has pixels in column 2 of every row from 0 to 6.
        assert_eq!(&img.data[(3 * 10 + 2) * 3..][..3], &[0, 255, 0]);
        img.draw_text(5, 5, "www", 3, [1, 1, 1]); // clipped, no panic
        img.blend(0, 9, [100, 100, 100], 0.5);
        assert_eq!(img.data[9 * 30], 50);
    }
}
