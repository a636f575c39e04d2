//! A minimal, fully bounds-checked reader of the FlatBuffers binary format: tables through their
//! vtables, vectors, strings and scalars. Every offset and length is checked against the buffer,
//! so a corrupted file gives an error, never a panic or an out-of-bounds read.

use crate::ImportError;

fn bad(what: &str, at: usize) -> ImportError {
    ImportError::Malformed(format!("{what} at byte {at}"))
}

/// Reads a little-endian scalar of `N` bytes at `pos`.
fn bytes<const N: usize>(buf: &[u8], pos: usize) -> Result<[u8; N], ImportError> {
    let end = pos.checked_add(N).ok_or_else(|| bad("offset overflow", pos))?;
    buf.get(pos..end).and_then(|s| s.try_into().ok()).ok_or_else(|| bad("read past the end of the file", pos))
}

pub fn read_u32(buf: &[u8], pos: usize) -> Result<u32, ImportError> {
    Ok(u32::from_le_bytes(bytes(buf, pos)?))
}

/// Follows a forward `uoffset` stored at `pos`.
fn follow(buf: &[u8], pos: usize) -> Result<usize, ImportError> {
    let off = read_u32(buf, pos)? as usize;
    let target = pos.checked_add(off).ok_or_else(|| bad("offset overflow", pos))?;
    if target >= buf.len() {
        return Err(bad("offset points past the end of the file", pos));
    }
    Ok(target)
}

/// A table: a position in the buffer with its vtable.
#[derive(Clone, Copy)]
pub struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vtable: usize,
    vt_len: usize,
}

impl<'a> Table<'a> {
    /// The root table of a FlatBuffer.
    pub fn root(buf: &'a [u8]) -> Result<Table<'a>, ImportError> {
        Table::at(buf, follow(buf, 0)?)
    }

    fn at(buf: &'a [u8], pos: usize) -> Result<Table<'a>, ImportError> {
        let soff = i32::from_le_bytes(bytes(buf, pos)?) as i64;
        let vtable = pos as i64 - soff;
        if vtable < 0 || vtable as usize >= buf.len() {
            return Err(bad("vtable outside the file", pos));
        }
        let vtable = vtable as usize;
        let vt_len = u16::from_le_bytes(bytes(buf, vtable)?) as usize;
        if vt_len < 4 || vtable + vt_len > buf.len() {
            return Err(bad("bad vtable size", vtable));
        }
        Ok(Table { buf, pos, vtable, vt_len })
    }

    /// Absolute position of field `id`, if present.
    fn field(&self, id: usize) -> Result<Option<usize>, ImportError> {
        let entry = 4 + 2 * id;
        if entry + 2 > self.vt_len {
            return Ok(None);
        }
        let off = u16::from_le_bytes(bytes(self.buf, self.vtable + entry)?) as usize;
        Ok((off != 0).then_some(self.pos + off))
    }

    fn scalar<const N: usize>(&self, id: usize) -> Result<Option<[u8; N]>, ImportError> {
        self.field(id)?.map(|p| bytes::<N>(self.buf, p)).transpose()
    }
    pub fn u8(&self, id: usize, default: u8) -> Result<u8, ImportError> {
        Ok(self.scalar::<1>(id)?.map_or(default, |b| b[0]))
    }
    pub fn i8(&self, id: usize, default: i8) -> Result<i8, ImportError> {
        Ok(self.scalar::<1>(id)?.map_or(default, |b| b[0] as i8))
    }
    pub fn i32(&self, id: usize, default: i32) -> Result<i32, ImportError> {
        Ok(self.scalar::<4>(id)?.map_or(default, i32::from_le_bytes))
    }
    pub fn u32(&self, id: usize, default: u32) -> Result<u32, ImportError> {
        Ok(self.scalar::<4>(id)?.map_or(default, u32::from_le_bytes))
    }
    pub fn u64(&self, id: usize, default: u64) -> Result<u64, ImportError> {
        Ok(self.scalar::<8>(id)?.map_or(default, u64::from_le_bytes))
    }
    pub fn f32(&self, id: usize, default: f32) -> Result<f32, ImportError> {
        Ok(self.scalar::<4>(id)?.map_or(default, f32::from_le_bytes))
    }
    pub fn table(&self, id: usize) -> Result<Option<Table<'a>>, ImportError> {
        self.field(id)?.map(|p| Table::at(self.buf, follow(self.buf, p)?)).transpose()
    }
    pub fn vector(&self, id: usize, elem: usize) -> Result<Option<Vector<'a>>, ImportError> {
        self.field(id)?.map(|p| Vector::at(self.buf, follow(self.buf, p)?, elem)).transpose()
    }
    pub fn string(&self, id: usize) -> Result<Option<String>, ImportError> {
        Ok(self.vector(id, 1)?.map(|v| String::from_utf8_lossy(v.bytes()).into_owned()))
    }
    /// A vector of tables, as a list.
    pub fn tables(&self, id: usize) -> Result<Vec<Table<'a>>, ImportError> {
        match self.vector(id, 4)? {
            None => Ok(Vec::new()),
            Some(v) => (0..v.len()).map(|i| Table::at(self.buf, follow(self.buf, v.start + 4 * i)?)).collect(),
        }
    }
    pub fn i32s(&self, id: usize) -> Result<Vec<i32>, ImportError> {
        Ok(self.vector(id, 4)?.map_or(Vec::new(), |v| {
            v.bytes().chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect()
        }))
    }
    pub fn f32s(&self, id: usize) -> Result<Vec<f32>, ImportError> {
        Ok(self.vector(id, 4)?.map_or(Vec::new(), |v| {
            v.bytes().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
        }))
    }
    pub fn i64s(&self, id: usize) -> Result<Vec<i64>, ImportError> {
        Ok(self.vector(id, 8)?.map_or(Vec::new(), |v| {
            v.bytes().chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()
        }))
    }
}

/// A vector's elements, already checked to lie inside the buffer.
#[derive(Clone, Copy)]
pub struct Vector<'a> {
    buf: &'a [u8],
    start: usize,
    len: usize,
    elem: usize,
}

impl<'a> Vector<'a> {
    fn at(buf: &'a [u8], pos: usize, elem: usize) -> Result<Vector<'a>, ImportError> {
        let len = read_u32(buf, pos)? as usize;
        let start = pos + 4;
        let end =
            len.checked_mul(elem).and_then(|n| n.checked_add(start)).ok_or_else(|| bad("vector too long", pos))?;
        if end > buf.len() {
            return Err(bad("vector runs past the end of the file", pos));
        }
        Ok(Vector { buf, start, len, elem })
    }
    pub fn len(&self) -> usize {
        self.len
    }
    /// Position of the first element in the buffer.
    pub fn offset(&self) -> usize {
        self.start
    }
    pub fn bytes(&self) -> &'a [u8] {
        &self.buf[self.start..self.start + self.len * self.elem]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-assembled buffer: root table with a u32 field (id 0 = 7) and a string (id 1 = "hi").
    fn sample() -> Vec<u8> {
        let mut b = vec![0u8; 40];
        b[0..4].copy_from_slice(&12u32.to_le_bytes()); // root -> table at 12
        // vtable at 4: size 8, table size 12, field0 at +4, field1 at +8
        b[4..6].copy_from_slice(&8u16.to_le_bytes());
        b[6..8].copy_from_slice(&12u16.to_le_bytes());
        b[8..10].copy_from_slice(&4u16.to_le_bytes());
        b[10..12].copy_from_slice(&8u16.to_le_bytes());
        b[12..16].copy_from_slice(&8i32.to_le_bytes()); // soffset: vtable = 12 - 8 = 4
        b[16..20].copy_from_slice(&7u32.to_le_bytes());
        b[20..24].copy_from_slice(&4u32.to_le_bytes()); // string at 24
        b[24..28].copy_from_slice(&2u32.to_le_bytes());
        b[28..30].copy_from_slice(b"hi");
        b
    }

    #[test]
    fn reads_fields_and_defaults() {
        let b = sample();
        let t = Table::root(&b).unwrap();
        assert_eq!(t.u32(0, 0).unwrap(), 7);
        assert_eq!(t.string(1).unwrap().as_deref(), Some("hi"));
        assert_eq!(t.u32(5, 42).unwrap(), 42); // beyond the vtable: default
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let b = sample();
        for n in 0..30 {
            let cut = &b[..n];
            let r = Table::root(cut).and_then(|t| Ok((t.u32(0, 0)?, t.string(1)?)));
            assert!(r.is_err(), "truncated at {n} was accepted");
        }
    }

    #[test]
    fn huge_vector_length_is_rejected() {
        let mut b = sample();
        b[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Table::root(&b).unwrap().string(1).is_err());
    }
}
