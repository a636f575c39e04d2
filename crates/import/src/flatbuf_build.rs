//! A small FlatBuffers writer, the counterpart of `flatbuf.rs`: a tree of tables, vectors and
//! strings is described first, then laid out front to back. Every object is written after the
//! object that refers to it, so each `uoffset` points forward as the format requires; each
//! vtable sits just before its table. Scalars, vector elements and the root are aligned to
//! their size (vectors of bytes to a chosen alignment: TFLite wants its buffers on 16 bytes),
//! which is what FlatBuffers' verifier checks.

/// A table under construction: fields by id, in any order.
#[derive(Default)]
pub struct TableBuilder {
    fields: Vec<(u16, Field)>,
}

enum Field {
    /// A scalar's little-endian bytes (its size is its alignment).
    Scalar(Vec<u8>),
    Child(Child),
}

enum Child {
    Table(TableBuilder),
    Tables(Vec<TableBuilder>),
    /// A vector of scalars: raw bytes, element size, alignment of the first element.
    Scalars {
        bytes: Vec<u8>,
        elem: usize,
        align: usize,
    },
    String(String),
}

impl TableBuilder {
    pub fn new() -> TableBuilder {
        TableBuilder::default()
    }

    fn scalar(mut self, id: u16, bytes: &[u8]) -> Self {
        self.fields.push((id, Field::Scalar(bytes.to_vec())));
        self
    }
    fn child(mut self, id: u16, c: Child) -> Self {
        self.fields.push((id, Field::Child(c)));
        self
    }

    pub fn u8(self, id: u16, v: u8) -> Self {
        self.scalar(id, &[v])
    }
    pub fn i8(self, id: u16, v: i8) -> Self {
        self.scalar(id, &v.to_le_bytes())
    }
    pub fn i32(self, id: u16, v: i32) -> Self {
        self.scalar(id, &v.to_le_bytes())
    }
    pub fn u32(self, id: u16, v: u32) -> Self {
        self.scalar(id, &v.to_le_bytes())
    }
    pub fn f32(self, id: u16, v: f32) -> Self {
        self.scalar(id, &v.to_le_bytes())
    }
    pub fn table(self, id: u16, t: TableBuilder) -> Self {
        self.child(id, Child::Table(t))
    }
    pub fn tables(self, id: u16, ts: Vec<TableBuilder>) -> Self {
        self.child(id, Child::Tables(ts))
    }
    pub fn string(self, id: u16, s: &str) -> Self {
        self.child(id, Child::String(s.to_string()))
    }
    pub fn i32s(self, id: u16, v: &[i32]) -> Self {
        let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.child(id, Child::Scalars { bytes, elem: 4, align: 4 })
    }
    pub fn f32s(self, id: u16, v: &[f32]) -> Self {
        let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.child(id, Child::Scalars { bytes, elem: 4, align: 4 })
    }
    pub fn i64s(self, id: u16, v: &[i64]) -> Self {
        let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.child(id, Child::Scalars { bytes, elem: 8, align: 8 })
    }
    /// A vector of bytes whose first byte is aligned to `align` (a power of two).
    pub fn bytes(self, id: u16, bytes: Vec<u8>, align: usize) -> Self {
        self.child(id, Child::Scalars { bytes, elem: 1, align })
    }

    /// The finished buffer with this table as its root and a 4-byte file identifier.
    pub fn finish(self, identifier: &[u8; 4]) -> Vec<u8> {
        let mut w = Writer { buf: vec![0; 8] };
        w.buf[4..8].copy_from_slice(identifier);
        w.child(0, Child::Table(self));
        w.buf
    }
}

struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// Pads with zeros until `len + ahead` is a multiple of `align`.
    fn pad(&mut self, align: usize, ahead: usize) {
        while !(self.buf.len() + ahead).is_multiple_of(align) {
            self.buf.push(0);
        }
    }

    /// Writes `c` at the end and points the uoffset at `from` to it.
    fn child(&mut self, from: usize, c: Child) {
        let at = match c {
            Child::Table(t) => self.table(t),
            Child::Tables(ts) => {
                self.pad(4, 0);
                let at = self.buf.len();
                self.buf.extend((ts.len() as u32).to_le_bytes());
                let slots: Vec<usize> = (0..ts.len()).map(|i| at + 4 + 4 * i).collect();
                self.buf.resize(at + 4 + 4 * ts.len(), 0);
                for (t, slot) in ts.into_iter().zip(slots) {
                    self.child(slot, Child::Table(t));
                }
                at
            }
            Child::Scalars { bytes, elem, align } => {
                self.pad(align.max(4), 4);
                let at = self.buf.len();
                self.buf.extend(((bytes.len() / elem) as u32).to_le_bytes());
                self.buf.extend(bytes);
                at
            }
            Child::String(s) => {
                self.pad(4, 0);
                let at = self.buf.len();
                self.buf.extend((s.len() as u32).to_le_bytes());
                self.buf.extend(s.as_bytes());
                self.buf.push(0);
                at
            }
        };
        let offset = (at - from) as u32;
        self.buf[from..from + 4].copy_from_slice(&offset.to_le_bytes());
    }

    /// Writes a vtable and its table; children follow. Returns the table's position.
    fn table(&mut self, mut t: TableBuilder) -> usize {
        // Inline layout: the soffset, then fields largest first so each is aligned.
        let size = |f: &Field| match f {
            Field::Scalar(b) => b.len(),
            Field::Child(_) => 4,
        };
        t.fields.sort_by_key(|(id, f)| (std::cmp::Reverse(size(f)), *id));
        let align = t.fields.iter().map(|(_, f)| size(f)).max().unwrap_or(4).max(4);
        let mut inline: usize = 4;
        let mut at_offsets = Vec::with_capacity(t.fields.len());
        for (_, f) in &t.fields {
            inline = inline.next_multiple_of(size(f));
            at_offsets.push(inline);
            inline += size(f);
        }
        let slots = t.fields.iter().map(|(id, _)| *id as usize + 1).max().unwrap_or(0);
        let vtable_len = 4 + 2 * slots;
        self.pad(2, 0);
        let vtable = self.buf.len();
        let mut entries = vec![0u16; slots];
        for ((id, _), &off) in t.fields.iter().zip(&at_offsets) {
            entries[*id as usize] = off as u16;
        }
        self.buf.extend((vtable_len as u16).to_le_bytes());
        self.buf.extend((inline as u16).to_le_bytes());
        self.buf.extend(entries.iter().flat_map(|e| e.to_le_bytes()));
        self.pad(align, 0);
        let table = self.buf.len();
        self.buf.resize(table + inline, 0);
        self.buf[table..table + 4].copy_from_slice(&((table - vtable) as i32).to_le_bytes());
        let mut children = Vec::new();
        for ((_, f), off) in t.fields.into_iter().zip(at_offsets) {
            match f {
                Field::Scalar(b) => self.buf[table + off..table + off + b.len()].copy_from_slice(&b),
                Field::Child(c) => children.push((table + off, c)),
            }
        }
        for (slot, c) in children {
            self.child(slot, c);
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flatbuf::Table;

    #[test]
    fn what_is_written_reads_back_aligned() {
        let inner = TableBuilder::new().i32(1, -5).string(0, "conv");
        let buf = TableBuilder::new()
            .u32(0, 3)
            .i8(4, -2)
            .tables(2, vec![inner, TableBuilder::new().f32(0, 0.25)])
            .i64s(3, &[7, -9])
            .bytes(5, vec![1, 2, 3], 16)
            .f32s(6, &[1.5])
            .finish(b"TFL3");
        assert_eq!(&buf[4..8], b"TFL3");
        let root = Table::root(&buf).unwrap();
        assert_eq!(root.u32(0, 0).unwrap(), 3);
        assert_eq!(root.i8(4, 0).unwrap(), -2);
        assert_eq!(root.u32(1, 99).unwrap(), 99, "an absent field reads as its default");
        let ts = root.tables(2).unwrap();
        assert_eq!(ts.len(), 2);
        assert_eq!(ts[0].string(0).unwrap().as_deref(), Some("conv"));
        assert_eq!(ts[0].i32(1, 0).unwrap(), -5);
        assert_eq!(ts[1].f32(0, 0.0).unwrap(), 0.25);
        assert_eq!(root.i64s(3).unwrap(), [7, -9]);
        let data = root.vector(5, 1).unwrap().unwrap();
        assert_eq!((data.bytes(), data.offset() % 16), (&[1u8, 2, 3][..], 0));
        assert_eq!(root.vector(3, 8).unwrap().unwrap().offset() % 8, 0);
        assert_eq!(root.f32s(6).unwrap(), [1.5]);
    }
}
