//! The markers before a baseline JPEG's scan: what the decoder needs from them, or `None` for
//! anything this decoder leaves to the general one (progressive, arithmetic-coded, 12-bit,
//! CMYK, RGB-coded, several scans, unusual subsampling, malformed tables).

use super::huffman::Huffman;

/// Where each zig-zag position sits in the block's natural (row-major) order.
pub(super) const ZIGZAG: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
    28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54,
    47, 55, 62, 63,
];

/// One colour component of the frame.
pub(super) struct Component {
    /// Horizontal and vertical sampling factors.
    pub h: usize,
    pub v: usize,
    /// Quantizer in zig-zag order.
    pub quant: [u16; 64],
    pub dc: usize,
    pub ac: usize,
}

/// Everything the scan's decoding needs.
pub(super) struct Frame<'a> {
    pub width: usize,
    pub height: usize,
    pub components: Vec<Component>,
    pub dc: [Option<Huffman>; 4],
    pub ac: [Option<Huffman>; 4],
    /// MCUs between restart markers (0: none).
    pub restart_interval: usize,
    /// The bytes after the start-of-scan header: entropy-coded data, then the markers after it.
    pub scan: &'a [u8],
    /// The last Exif block (after its "Exif\0\0" tag), for the orientation.
    pub exif: Option<&'a [u8]>,
    /// Where the start-of-scan marker is in the file.
    pub sos_at: usize,
}

/// Reads the markers from SOI to the first SOS.
pub(super) fn read(bytes: &[u8]) -> Option<Frame<'_>> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut quant: [Option<[u16; 64]>; 4] = [None; 4];
    let (mut dc, mut ac): ([Option<Huffman>; 4], [Option<Huffman>; 4]) = Default::default();
    let mut sof: Option<&[u8]> = None;
    let (mut restart_interval, mut exif, mut jfif, mut adobe_transform) = (0, None, false, None);
    let mut pos = 2;
    loop {
        // Fill bytes (FF repeated) may come before a marker code.
        while bytes.get(pos) == Some(&0xFF) && bytes.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let (&ff, &code) = (bytes.get(pos)?, bytes.get(pos + 1)?);
        if ff != 0xFF {
            return None;
        }
        let len = u16::from_be_bytes([*bytes.get(pos + 2)?, *bytes.get(pos + 3)?]) as usize;
        let seg = bytes.get(pos + 4..(pos + 2).checked_add(len)?)?;
        if len < 2 {
            return None;
        }
        match code {
            0xC0 | 0xC1 => sof = Some(seg),
            0xDB => read_quant(seg, &mut quant)?,
            0xC4 => read_huffman(seg, &mut dc, &mut ac)?,
            0xDD => restart_interval = u16::from_be_bytes([*seg.first()?, *seg.get(1)?]) as usize,
            0xE0 if seg.starts_with(b"JFIF\0") => jfif = true,
            0xE1 if seg.starts_with(b"Exif\0\0") => exif = Some(&seg[6..]),
            0xEE if seg.starts_with(b"Adobe") => adobe_transform = Some(*seg.get(11)?),
            0xE0..=0xEF | 0xFE => {}
            0xDA => {
                let scan = bytes.get(pos + 2 + len..)?;
                let mut f = frame(sof?, seg, &quant, dc, ac, (restart_interval, scan, exif), (jfif, adobe_transform))?;
                f.sos_at = pos;
                return Some(f);
            }
            // Progressive, lossless, arithmetic-coded or hierarchical frames, and anything else.
            _ => return None,
        }
        pos += 2 + len;
    }
}

/// The frame header (SOF) and scan header (SOS) checked and put together.
fn frame<'a>(
    sof: &[u8],
    sos: &[u8],
    quant: &[Option<[u16; 64]>; 4],
    dc: [Option<Huffman>; 4],
    ac: [Option<Huffman>; 4],
    (restart_interval, scan, exif): (usize, &'a [u8], Option<&'a [u8]>),
    (jfif, adobe_transform): (bool, Option<u8>),
) -> Option<Frame<'a>> {
    let (&precision, rest) = sof.split_first()?;
    let height = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]) as usize;
    let width = u16::from_be_bytes([*rest.get(2)?, *rest.get(3)?]) as usize;
    let n = *rest.get(4)? as usize;
    if precision != 8 || width == 0 || height == 0 || !(n == 1 || n == 3) || sof.len() < 6 + 3 * n {
        return None;
    }
    let ids: Vec<u8> = (0..n).map(|i| sof[6 + 3 * i]).collect();
    // libjpeg reads three components as RGB when an Adobe marker says so, or, without JFIF or
    // Adobe markers, when the components are named R, G, B: those go the general way.
    if n == 3 && (adobe_transform == Some(0) && !jfif || (!jfif && adobe_transform.is_none() && ids == b"RGB")) {
        return None;
    }
    // One scan holding every component, in frame order.
    if sos.first().map(|&k| k as usize) != Some(n) || sos.len() < 1 + 2 * n + 3 {
        return None;
    }
    let mut components = Vec::with_capacity(n);
    for i in 0..n {
        let (sampling, tq) = (sof[7 + 3 * i], sof[8 + 3 * i] as usize);
        let (id, tables) = (sos[1 + 2 * i], sos[2 + 2 * i]);
        let (td, ta) = ((tables >> 4) as usize, (tables & 15) as usize);
        if id != ids[i] || tq > 3 || td > 3 || ta > 3 || dc[td].is_none() || ac[ta].is_none() {
            return None;
        }
        let (h, v) = ((sampling >> 4) as usize, (sampling & 15) as usize);
        components.push(Component { h, v, quant: quant[tq]?, dc: td, ac: ta });
    }
    // Baseline spectral selection and no successive approximation.
    if sos[1 + 2 * n..1 + 2 * n + 3] != [0, 63, 0] {
        return None;
    }
    if n == 1 {
        // A single component is one block per MCU whatever its factors say.
        components[0].h = 1;
        components[0].v = 1;
    } else {
        // Chroma at 1x1 and luma at 1x1, 2x1 or 2x2 (4:4:4, 4:2:2, 4:2:0).
        let luma = (components[0].h, components[0].v);
        if components[1..].iter().any(|c| (c.h, c.v) != (1, 1)) || !matches!(luma, (1, 1) | (2, 1) | (2, 2)) {
            return None;
        }
    }
    Some(Frame { width, height, components, dc, ac, restart_interval, scan, exif, sos_at: 0 })
}

/// DQT: 8- or 16-bit quantizers, kept in zig-zag order.
fn read_quant(mut seg: &[u8], quant: &mut [Option<[u16; 64]>; 4]) -> Option<()> {
    while let Some((&pq_tq, rest)) = seg.split_first() {
        let (wide, t) = (pq_tq >> 4, (pq_tq & 15) as usize);
        let size = if wide == 0 { 64 } else { 128 };
        if wide > 1 || t > 3 || rest.len() < size {
            return None;
        }
        quant[t] = Some(std::array::from_fn(|k| {
            if wide == 0 { rest[k] as u16 } else { u16::from_be_bytes([rest[2 * k], rest[2 * k + 1]]) }
        }));
        seg = &rest[size..];
    }
    Some(())
}

/// DHT: each table's 16 code counts and its symbols.
fn read_huffman(mut seg: &[u8], dc: &mut [Option<Huffman>; 4], ac: &mut [Option<Huffman>; 4]) -> Option<()> {
    while let Some((&tc_th, rest)) = seg.split_first() {
        let (class, t) = (tc_th >> 4, (tc_th & 15) as usize);
        let counts: [u8; 16] = rest.get(..16)?.try_into().ok()?;
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        let symbols = rest.get(16..16 + total)?;
        if class > 1 || t > 3 {
            return None;
        }
        let table = Huffman::new(&counts, symbols, class == 1)?;
        if class == 0 {
            dc[t] = Some(table)
        } else {
            ac[t] = Some(table)
        }
        seg = &rest[16 + total..];
    }
    Some(())
}
