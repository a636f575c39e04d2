//! A baseline JPEG decoder whose bytes are libjpeg-turbo's, the decoder PIL (and so most
//! Python pipelines and this project's reference outputs) uses: the same Huffman decoding, the
//! accurate integer inverse DCT (`mnv2_kernels::jpeg`), libjpeg's fancy chroma upsampling and
//! YCbCr -> RGB. It takes the common files (baseline, 8-bit, greyscale or YCbCr at 4:4:4,
//! 4:2:2 or 4:2:0, one scan, restart markers or not); [`decode`] answers `None` for the rest,
//! and for any error, so that the general decoder gives those exactly as before.

mod headers;
mod huffman;
mod scan;
mod upsample;

use crate::Rgb8;
use headers::Frame;
use mnv2_kernels::Isa;
use mnv2_kernels::jpeg::{BLOCK, idct_blocks, ycc_to_rgb};
use scan::Scan;

/// The image's RGB pixels (upright per its EXIF orientation), or `None` when this decoder does
/// not take the file. The caller has checked the file is complete and its size within limits
/// (`max_pixels` bounds what is allocated here: the planes hold about 3 bytes per pixel).
pub(crate) fn decode(bytes: &[u8], max_pixels: u64) -> Option<Rgb8> {
    decode_within(bytes, max_pixels, None)
}

/// [`decode`] and then the central crop keeping `fraction` of each side
/// ([`crate::central_crop`]), with the same bytes; of an image stored upright, only the pixels
/// of the crop are made (the entropy-coded data before it is still read, that after it is not).
/// `None` also for a fraction outside (0, 1].
pub(crate) fn decode_central_crop(bytes: &[u8], max_pixels: u64, fraction: f32) -> Option<Rgb8> {
    decode_within(bytes, max_pixels, Some(fraction))
}

fn decode_within(bytes: &[u8], max_pixels: u64, crop: Option<f32>) -> Option<Rgb8> {
    let frame = headers::read(bytes)?;
    if (frame.width as u64) * (frame.height as u64) > max_pixels || !single_scan(bytes, frame.sos_at) {
        return None;
    }
    // libjpeg widens chroma of two samples or fewer by repeating them, not by the filter.
    let luma = &frame.components[0];
    if (luma.h, luma.v) != (1, 1) && frame.width.div_ceil(luma.h) <= 2 {
        return None;
    }
    let orientation = frame.exif.and_then(image::metadata::Orientation::from_exif_chunk);
    // A turned image is cropped once upright (its crop box is the upright image's).
    let upright = matches!(orientation, None | Some(image::metadata::Orientation::NoTransforms));
    let region = match crop {
        Some(fraction) if upright => {
            let (x, y, w, h) = crate::central_crop_box(frame.width, frame.height, fraction).ok()?;
            Region { x, y, w, h }
        }
        _ => Region { x: 0, y: 0, w: frame.width, h: frame.height },
    };
    let rgb = decode_rgb(&frame, Isa::detect(), region)?;
    let img = crate::decode::orient(Rgb8::new(region.w, region.h, rgb), orientation);
    match crop {
        Some(fraction) if !upright => crate::central_crop(&img, fraction).ok(),
        _ => Some(img),
    }
}

/// The rectangle of the image (as stored) that is made into pixels.
#[derive(Clone, Copy)]
struct Region {
    x: usize,
    y: usize,
    w: usize,
    h: usize,
}

/// Whether the start-of-scan marker at `sos_at` is the file's last (a file of several scans
/// goes the general way; entropy-coded data never holds FF DA).
fn single_scan(bytes: &[u8], sos_at: usize) -> bool {
    memchr::memrchr_iter(0xFF, bytes).find(|&i| bytes.get(i + 1) == Some(&0xDA)) == Some(sos_at)
}

/// One MCU row of a component's samples (padded to whole blocks), with the image's size of the
/// component (libjpeg's downsampled width and height).
struct Band {
    data: Vec<u8>,
    stride: usize,
    width: usize,
    height: usize,
}

impl Band {
    fn row(&self, r: usize) -> &[u8] {
        &self.data[r * self.stride..r * self.stride + self.width]
    }
}

/// Decodes the scan an MCU row at a time: its blocks entropy-decoded, turned into samples, and
/// the image rows of the row before converted to RGB (a row's last chroma row needs the next
/// row's first for 4:2:0's upsampling). Memory beyond the output is a few MCU rows.
///
/// Only `region`'s pixels are made: the MCU rows after the last it needs are not decoded, and
/// only the MCUs it needs are turned into samples (its own and one more on each side, which
/// the chroma upsampling reads).
fn decode_rgb(frame: &Frame, isa: Isa, region: Region) -> Option<Vec<u8>> {
    let comps = &frame.components;
    let (hmax, vmax) = (comps[0].h, comps[0].v);
    let (mcu_cols, mcu_rows) = (frame.width.div_ceil(8 * hmax), frame.height.div_ceil(8 * vmax));
    let (mcu_w, mcu_h) = (8 * hmax, 8 * vmax);
    let needed_rows = (region.y / mcu_h).saturating_sub(1)..((region.y + region.h).div_ceil(mcu_h) + 1).min(mcu_rows);
    let needed_cols = (region.x / mcu_w).saturating_sub(1)..((region.x + region.w).div_ceil(mcu_w) + 1).min(mcu_cols);
    let band = |c: &headers::Component| {
        let stride = mcu_cols * c.h * 8;
        Band {
            data: vec![0; stride * c.v * 8],
            stride,
            width: (frame.width * c.h).div_ceil(hmax),
            height: (frame.height * c.v).div_ceil(vmax),
        }
    };
    let (mut cur, mut prev): (Vec<Band>, Vec<Band>) =
        (comps.iter().map(band).collect(), comps.iter().map(band).collect());
    // The chroma row above the previous MCU row (4:2:0's upsampling reads it).
    let mut above: Vec<Vec<u8>> = comps.iter().map(|c| vec![0; mcu_cols * c.h * 8]).collect();
    let mut out = Output::new(frame, isa, region, needed_cols.clone());
    let (data, restarts) = unstuff(frame.scan);
    let mut scan = Scan::new(frame, &data, &restarts, isa)?;
    // One MCU row of blocks per component: `v` rows of `mcu_cols * h` blocks.
    let mut blocks: Vec<Vec<[i32; BLOCK]>> = comps.iter().map(|c| vec![[0; BLOCK]; c.v * mcu_cols * c.h]).collect();
    for my in 0..needed_rows.end {
        for b in blocks.iter_mut() {
            b.fill([0; BLOCK]);
        }
        scan.mcu_row(frame, &mut blocks)?;
        if my < needed_rows.start {
            continue;
        }
        for ((c, band), blocks) in comps.iter().zip(&mut cur).zip(&blocks) {
            let row_blocks = mcu_cols * c.h;
            let (b0, b1) = (needed_cols.start * c.h, needed_cols.end * c.h);
            for by in 0..c.v {
                let rows = &mut band.data[by * 8 * band.stride + b0 * 8..(by + 1) * 8 * band.stride];
                idct_blocks(isa, &blocks[by * row_blocks + b0..by * row_blocks + b1], rows, band.stride);
            }
        }
        if my > 0 {
            out.mcu_row(my - 1, &prev, &above, Some(&cur));
            for (a, p) in above.iter_mut().zip(&prev) {
                a.copy_from_slice(&p.data[(p.data.len() - p.stride)..]);
            }
        }
        std::mem::swap(&mut cur, &mut prev);
    }
    // The last MCU row decoded: the image's last (nothing below it), or one past the region's
    // (which makes no pixels).
    out.mcu_row(needed_rows.end - 1, &prev, &above, None);
    Some(out.rgb)
}

/// The RGB pixels of the region being written, an MCU row at a time.
struct Output {
    rgb: Vec<u8>,
    region: Region,
    /// The image's height.
    height: usize,
    /// The luma's sampling factors (chroma is 1x1 or the image is grey).
    hmax: usize,
    vmax: usize,
    /// The chroma samples upsampled (those of `chroma`), at their places in a full row.
    up: [Vec<u8>; 2],
    /// The chroma samples of each row that are made (those of the MCU columns decoded).
    chroma: std::ops::Range<usize>,
    isa: Isa,
}

impl Output {
    fn new(frame: &Frame, isa: Isa, region: Region, mcu_cols: std::ops::Range<usize>) -> Output {
        let (w, h) = (frame.width, frame.height);
        let (hmax, vmax) = (frame.components[0].h, frame.components[0].v);
        let chroma_w = w.div_ceil(hmax);
        let up = std::array::from_fn(|_| vec![0u8; 2 * chroma_w + 2]);
        // Chroma is one 8-sample block per MCU; the margin MCU on each side keeps the
        // upsampler's edge rule (for the row's first and last samples) away from the region.
        let chroma = (mcu_cols.start * 8).min(chroma_w)..(mcu_cols.end * 8).min(chroma_w);
        Output { rgb: vec![0; region.w * region.h * 3], region, height: h, hmax, vmax, up, chroma, isa }
    }

    /// The region's rows of MCU row `m`: `bands` holds its samples, `above` each component's row
    /// before it, `below` the next MCU row (none after the last).
    fn mcu_row(&mut self, m: usize, bands: &[Band], above: &[Vec<u8>], below: Option<&[Band]>) {
        let Region { x, y: y0, w, h } = self.region;
        let rows = 8 * self.vmax;
        let first = m * rows;
        let (cs, ce) = (self.chroma.start, self.chroma.end);
        for y in first.max(y0)..(first + rows).min(self.height).min(y0 + h) {
            let local = y - first;
            let out = &mut self.rgb[(y - y0) * w * 3..(y - y0 + 1) * w * 3];
            let luma = &bands[0].row(local)[x..x + w];
            if bands.len() == 1 {
                for (px, &v) in out.chunks_exact_mut(3).zip(luma) {
                    px.fill(v);
                }
                continue;
            }
            if (self.hmax, self.vmax) == (1, 1) {
                ycc_to_rgb(self.isa, luma, &bands[1].row(local)[x..x + w], &bands[2].row(local)[x..x + w], out);
                continue;
            }
            for (k, up) in self.up.iter_mut().enumerate() {
                let band = &bands[1 + k];
                let up = &mut up[2 * cs..];
                if self.vmax == 1 {
                    upsample::h2v1(&band.row(local)[cs..ce], up);
                    continue;
                }
                // 4:2:0: the nearer chroma row and the farther one (above for an even image row,
                // below for an odd one), the image's first and last rows repeated at its edges.
                let (r, global) = (local / 2, m * 8 + local / 2);
                let near = band.row(r);
                let far: &[u8] = if y % 2 == 0 {
                    match (r, m) {
                        (0, 0) => near,
                        (0, _) => &above[1 + k][..band.width],
                        _ => band.row(r - 1),
                    }
                } else if global + 1 >= band.height {
                    near
                } else if r == 7 {
                    below.map_or(near, |b| b[1 + k].row(0))
                } else {
                    band.row(r + 1)
                };
                upsample::h2v2(&near[cs..ce], &far[cs..ce], up);
            }
            ycc_to_rgb(self.isa, luma, &self.up[0][x..x + w], &self.up[1][x..x + w], out);
        }
    }
}

/// The scan's entropy-coded bytes with stuffing removed (FF 00 -> FF), up to the first marker
/// that is not a restart, and where each restart interval after the first begins in them.
/// Eight zero bytes follow the data so the bit reader's word loads stay inside.
fn unstuff(scan: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let mut data = Vec::with_capacity(scan.len() + 8);
    let mut restarts = Vec::new();
    let mut pos = 0;
    while let Some(i) = memchr::memchr(0xFF, &scan[pos..]) {
        data.extend_from_slice(&scan[pos..pos + i]);
        let at = pos + i;
        match scan.get(at + 1) {
            Some(0x00) => {
                data.push(0xFF);
                pos = at + 2;
            }
            // Fill bytes before a marker.
            Some(0xFF) => pos = at + 1,
            Some(0xD0..=0xD7) => {
                restarts.push(data.len());
                pos = at + 2;
            }
            _ => {
                pos = scan.len();
                break;
            }
        }
    }
    data.extend_from_slice(&scan[pos..]);
    data.extend_from_slice(&[0; 8]);
    (data, restarts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `bytes` with the frame header (SOF0) changed: the luma's sampling factors (chroma stays
    /// 1x1) and the image's size. The scan is then read another way (pictures of noise, but
    /// decoded the same way by both paths), which gives 4:2:2 and odd sizes from the shared files.
    fn with_frame(bytes: &[u8], sampling: Option<(u8, u8)>, size: Option<(u16, u16)>) -> Vec<u8> {
        let mut out = bytes.to_vec();
        let sof = out.windows(2).position(|w| w == [0xFF, 0xC0]).expect("a baseline frame header");
        if let Some((w, h)) = size {
            out[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
            out[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
        }
        if let Some((h, v)) = sampling {
            out[sof + 11] = (h << 4) | v;
        }
        out
    }

    /// The central crop decoded alone equals the whole image decoded and then cropped, byte for
    /// byte, for 4:4:4, 4:2:0, 4:2:2 and grey, image sizes that are not whole MCUs, and crops from
    /// the whole image down to a few pixels (whose margins fall inside, on and across MCUs).
    #[test]
    fn the_central_crop_decoded_alone_is_the_crop_of_the_whole() {
        let dir = mnv2_testdata::shared_file("images");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
            .collect();
        files.sort();
        assert!(files.len() >= 3, "JPEGs in {}", dir.display());
        let mut compared = 0;
        for path in &files {
            let original = std::fs::read(path).unwrap();
            let grey = headers::read(&original).unwrap().components.len() == 1;
            let frame = headers::read(&original).unwrap();
            let (w, h) = (frame.width as u16, frame.height as u16);
            let mut variants = vec![original.clone(), with_frame(&original, None, Some((w - 5, h - 3)))];
            if !grey {
                for sampling in [(1, 1), (2, 1), (2, 2)] {
                    variants.push(with_frame(&original, Some(sampling), None));
                    variants.push(with_frame(&original, Some(sampling), Some((w - 13, h - 9))));
                }
            }
            for bytes in &variants {
                let Some(whole) = decode(bytes, 1 << 26) else { continue };
                for fraction in [1.0, 0.875, 0.5, 0.33, 0.03] {
                    let expected = crate::central_crop(&whole, fraction).unwrap();
                    let cropped = decode_central_crop(bytes, 1 << 26, fraction).expect("decodes as the whole did");
                    assert!(
                        cropped == expected,
                        "{}: fraction {fraction}, {}x{}",
                        path.display(),
                        whole.width,
                        whole.height
                    );
                    compared += 1;
                }
            }
        }
        assert!(compared >= 100, "{compared} crops compared");
    }

    /// Damaged files never panic or hang: thousands of copies of a real 4:2:0 photograph with
    /// bytes changed, markers inserted or the scan cut short (an end-of-image marker put back),
    /// through this decoder and through the public entry point.
    #[test]
    fn damaged_files_are_refused_or_decoded_never_a_panic() {
        let original = std::fs::read(mnv2_testdata::shared_file("images/face.jpg")).unwrap();
        assert!(decode(&original, 1 << 26).is_some(), "the undamaged file decodes here");
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let (mut decoded, mut refused) = (0, 0);
        for round in 0..1500 {
            let mut bytes = original.clone();
            match round % 3 {
                0 => {
                    for _ in 0..1 + next(8) {
                        let at = next(bytes.len());
                        bytes[at] = next(256) as u8;
                    }
                }
                1 => {
                    let at = next(bytes.len());
                    let marker = [0xFF, [0xD0, 0xD9, 0xDA, 0xC4, 0xDB, 0xDD, 0x00, 0xFF][next(8)]];
                    bytes.splice(at..at, marker);
                }
                _ => {
                    bytes.truncate(next(bytes.len()));
                    bytes.extend_from_slice(&[0xFF, 0xD9]);
                }
            }
            let _ = decode_central_crop(&bytes, 1 << 22, 0.875);
            match decode(&bytes, 1 << 22) {
                Some(img) => {
                    assert_eq!(img.data.len(), img.width * img.height * 3);
                    decoded += 1;
                }
                None => refused += 1,
            }
            let _ = crate::decode_rgb(&bytes, "damaged");
        }
        // Most damage inside the scan still decodes (as libjpeg does); damage to the headers
        // is refused.
        assert!(decoded > 100 && refused > 100, "{decoded} decoded, {refused} refused");
    }
}
