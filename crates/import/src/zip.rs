//! Uncompressed ZIP archives: the label file TFLite metadata appends to a model, and PyTorch's
//! checkpoints (`torch.save` stores its members uncompressed).

/// The first stored `.txt` member of a ZIP archive appended to `file` with exactly `classes`
/// non-empty lines, or `None`. Never fails: labels are optional.
pub fn labels_for(file: &[u8], classes: usize) -> Option<Vec<String>> {
    stored(file)?.into_iter().find_map(|(name, data)| {
        if !name.ends_with(".txt") {
            return None;
        }
        let text = std::str::from_utf8(data).ok()?;
        let lines: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
        let lines: Vec<String> =
            lines.into_iter().rev().skip_while(|l| l.is_empty()).collect::<Vec<_>>().into_iter().rev().collect();
        (lines.len() == classes).then_some(lines)
    })
}

/// Whether an archive appended to `file` has a readable central directory and members.
pub fn readable(file: &[u8]) -> bool {
    stored(file).is_some()
}

fn u16_at(b: &[u8], p: usize) -> Option<usize> {
    Some(u16::from_le_bytes(b.get(p..p.checked_add(2)?)?.try_into().ok()?) as usize)
}
fn u32_at(b: &[u8], p: usize) -> Option<usize> {
    Some(u32::from_le_bytes(b.get(p..p.checked_add(4)?)?.try_into().ok()?) as usize)
}

/// (name, bytes) of every stored (uncompressed) member of the archive at the end of `file`,
/// located through the central directory.
pub fn stored(file: &[u8]) -> Option<Vec<(String, &[u8])>> {
    const EOCD: u32 = 0x0605_4b50;
    let search_from = file.len().saturating_sub(22 + 65_535);
    let eocd = (search_from..file.len().saturating_sub(21)).rev().find(|&p| u32_at(file, p) == Some(EOCD as usize))?;
    let count = u16_at(file, eocd + 10)?;
    let cd_size = u32_at(file, eocd + 12)?;
    let cd_offset = u32_at(file, eocd + 16)?;
    // A ZIP64 end record and its locator (PyTorch writes them) sit between the central
    // directory and the end record.
    let cd_end = match eocd.checked_sub(20).and_then(|l| u32_at(file, l)) {
        Some(0x0706_4b50) => eocd.checked_sub(20 + 56).filter(|&r| u32_at(file, r) == Some(0x0606_4b50))?,
        _ => eocd,
    };
    // The archive may be appended to other data: offsets are relative to the archive's start.
    let base = cd_end.checked_sub(cd_size)?.checked_sub(cd_offset)?;
    let mut p = base + cd_offset;
    let mut out = Vec::new();
    for _ in 0..count {
        if u32_at(file, p)? != 0x0201_4b50 {
            return None;
        }
        let method = u16_at(file, p + 10)?;
        let size = u32_at(file, p + 20)?;
        let (name_len, extra_len, comment_len) = (u16_at(file, p + 28)?, u16_at(file, p + 30)?, u16_at(file, p + 32)?);
        let local = base.checked_add(u32_at(file, p + 42)?)?;
        let name = String::from_utf8_lossy(file.get(p + 46..p + 46 + name_len)?).into_owned();
        p += 46 + name_len + extra_len + comment_len;
        if method != 0 || u32_at(file, local)? != 0x0403_4b50 {
            continue;
        }
        let data_start = local + 30 + u16_at(file, local + 26)? + u16_at(file, local + 28)?;
        out.push((name, file.get(data_start..data_start.checked_add(size)?)?));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    /// A stored ZIP with one member "l.txt" = "a\nb\n", appended after 3 bytes of other data.
    fn sample() -> Vec<u8> {
        let data = b"a\nb\n";
        let mut z = b"xyz".to_vec();
        let local = z.len() - 3;
        z.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        z.extend_from_slice(&[0; 14]);
        z.extend_from_slice(&(data.len() as u32).to_le_bytes());
        z.extend_from_slice(&(data.len() as u32).to_le_bytes());
        z.extend_from_slice(&5u16.to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes());
        z.extend_from_slice(b"l.txt");
        z.extend_from_slice(data);
        let cd = z.len() - 3;
        z.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        z.extend_from_slice(&[0; 16]);
        z.extend_from_slice(&(data.len() as u32).to_le_bytes());
        z.extend_from_slice(&(data.len() as u32).to_le_bytes());
        z.extend_from_slice(&5u16.to_le_bytes());
        z.extend_from_slice(&[0; 12]);
        z.extend_from_slice(&(local as u32).to_le_bytes());
        z.extend_from_slice(b"l.txt");
        let cd_size = z.len() - 3 - cd;
        z.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        z.extend_from_slice(&[0; 4]);
        z.extend_from_slice(&1u16.to_le_bytes());
        z.extend_from_slice(&1u16.to_le_bytes());
        z.extend_from_slice(&(cd_size as u32).to_le_bytes());
        z.extend_from_slice(&(cd as u32).to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes());
        z
    }

    #[test]
    fn finds_labels_with_the_right_count() {
        let z = sample();
        assert_eq!(super::labels_for(&z, 2), Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(super::labels_for(&z, 3), None);
        for n in 0..z.len() {
            let _ = super::labels_for(&z[..n], 2); // never panics
        }
    }
}
