//! Huffman decoding of the scan: the tables, a bit reader over the unstuffed data, and one
//! block's coefficients.
//!
//! The AC table answers most lookups whole: for a code and its extra bits within
//! [`LOOKAHEAD`] bits, one entry gives the run, the coefficient's value and the bits used; for a
//! code within them whose extra bits are not, the run, the code's length and how many bits to
//! read after it. Longer codes fall back to libjpeg's canonical search.

use super::headers::ZIGZAG;

/// Bits looked at per table lookup.
const LOOKAHEAD: u32 = 10;

/// A decoding table (DHT).
pub(super) struct Huffman {
    /// Per LOOKAHEAD-bit prefix: the code's length in bits 8.. and its symbol in bits 0..8 (0:
    /// longer code).
    codes: Box<[u16; 1 << LOOKAHEAD]>,
    /// AC tables: per prefix, a whole coefficient when it fits, and the next one too when both
    /// fit (see [`Huffman::new`]).
    fast_ac: Box<[u64; 1 << LOOKAHEAD]>,
    /// The canonical search for longer codes: the largest code of each length (-1: none), the
    /// first code of each length and its symbol's index.
    max_code: [i32; 17],
    first_code: [i32; 17],
    first_index: [usize; 17],
    symbols: Vec<u8>,
}

/// A `fast_ac` entry: bits used (0 = no entry) in the low byte (a shift takes it as it is), run
/// in bits 8..12, end-of-block or a run of 16 zeros in bit 12, the coefficient in bits 16..32
/// (or, with [`SPLIT_FLAG`], the count of extra bits that follow the code).
const END_FLAG: u32 = 1 << 12;
/// A `fast_ac` entry whose extra bits lie past the lookahead: bits 16..20 hold their count.
const SPLIT_FLAG: u32 = 1 << 13;
/// Bits 32..64 of a `fast_ac` entry for a whole coefficient: the coefficient after it, when its
/// code and extra bits also lie within the lookahead, as bits used (low byte), run (bits 8..12)
/// and value (bits 16..32), or [`END_FLAG`] for an end of block; 0 when it does not fit.
const SECOND_SHIFT: u32 = 32;

fn extend(bits: u32, size: u32) -> i32 {
    // JPEG's sign convention: a leading 0 bit means a negative value.
    if size == 0 {
        0
    } else if bits < 1 << (size - 1) {
        bits as i32 - (1 << size) + 1
    } else {
        bits as i32
    }
}

impl Huffman {
    /// The table of `counts[l]` codes of length `l + 1` for `symbols` in order, or `None` when
    /// the counts describe no prefix code (libjpeg's "bogus Huffman table") or a DC symbol is
    /// above 15.
    pub(super) fn new(counts: &[u8; 16], symbols: &[u8], ac: bool) -> Option<Huffman> {
        if symbols.len() > 256 || (!ac && symbols.iter().any(|&s| s > 15)) {
            return None;
        }
        // Fixed-size tables: a LOOKAHEAD-bit index needs no bounds check.
        let mut codes = Box::new([0u16; 1 << LOOKAHEAD]);
        let mut fast_ac = Box::new([0u64; 1 << LOOKAHEAD]);
        let (mut max_code, mut first_code, mut first_index) = ([-1i32; 17], [0i32; 17], [0usize; 17]);
        let (mut code, mut k) = (0u32, 0usize);
        for len in 1..=16u32 {
            let n = counts[len as usize - 1] as usize;
            first_code[len as usize] = code as i32;
            first_index[len as usize] = k;
            for &sym in &symbols[k..k + n] {
                if code >= 1 << len {
                    return None;
                }
                if len <= LOOKAHEAD {
                    let shift = LOOKAHEAD - len;
                    for prefix in (code << shift)..((code + 1) << shift) {
                        codes[prefix as usize] = ((len as u16) << 8) | sym as u16;
                        if ac {
                            let (run, size) = ((sym >> 4) as u32, (sym & 15) as u32);
                            fast_ac[prefix as usize] = u64::from(if size == 0 {
                                if run == 0 || run == 15 { len | (run << 8) | END_FLAG } else { 0 }
                            } else if len + size <= LOOKAHEAD {
                                let bits = (prefix >> (LOOKAHEAD - len - size)) & ((1 << size) - 1);
                                (len + size) | (run << 8) | ((extend(bits, size) as u32) << 16)
                            } else {
                                // The code fits but its extra bits do not: the code's length
                                // and the extra bits' count, read after it.
                                len | (run << 8) | SPLIT_FLAG | (size << 16)
                            });
                        }
                    }
                }
                code += 1;
            }
            k += n;
            if n > 0 {
                max_code[len as usize] = code as i32 - 1;
            }
            code <<= 1;
        }
        pair_up(&mut fast_ac[..]);
        Some(Huffman { codes, fast_ac, max_code, first_code, first_index, symbols: symbols.to_vec() })
    }
}

/// Gives each whole-coefficient entry of `fast_ac` the symbol after it when that lies wholly in
/// the lookahead's remaining bits: a coefficient, or an end of block (a run of 16 zeros and a
/// coefficient whose extra bits lie past the lookahead are left to the next lookup). Short codes
/// are the common ones, so most lookups then decode two coefficients.
fn pair_up(fast_ac: &mut [u64]) {
    for prefix in 0..fast_ac.len() {
        let first = fast_ac[prefix] as u32;
        let len = first & 0xff;
        if first == 0 || first & (END_FLAG | SPLIT_FLAG) != 0 || len >= LOOKAHEAD {
            continue;
        }
        // The bits after the first coefficient, at the top of a lookahead whose rest is zero:
        // an entry that uses no more than them is the same whatever follows.
        let rest = (prefix << len) & ((1 << LOOKAHEAD) - 1);
        let next = fast_ac[rest] as u32;
        let whole = next & SPLIT_FLAG == 0 && (next & END_FLAG == 0 || (next >> 8) & 15 == 0);
        if next != 0 && whole && (next & 0xff) <= LOOKAHEAD - len {
            fast_ac[prefix] |= u64::from(next) << SECOND_SHIFT;
        }
    }
}

/// A big-endian bit reader over unstuffed entropy data (FF 00 already turned into FF, markers
/// removed). Past the end it reads zeros, as libjpeg does after a premature end.
pub(super) struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    /// The next bits, most significant first; `count` of them are valid.
    buf: u64,
    count: u32,
}

impl<'a> Bits<'a> {
    pub(super) fn new(data: &'a [u8]) -> Bits<'a> {
        Bits { data, pos: 0, buf: 0, count: 0 }
    }

    /// Tops the buffer up to at least 56 valid bits.
    #[inline(always)]
    fn refill(&mut self) {
        if let Some(word) = self.data.get(self.pos..).and_then(|rest| rest.first_chunk::<8>()) {
            // Whole bytes into the free low bits; the position moves by the bytes taken.
            let word = u64::from_be_bytes(*word);
            self.buf |= word >> self.count;
            self.pos += ((63 - self.count) >> 3) as usize;
            self.count |= 56;
        } else {
            while self.count <= 56 {
                let byte = self.data.get(self.pos).copied().unwrap_or(0);
                self.pos += 1;
                self.buf |= (byte as u64) << (56 - self.count);
                self.count += 8;
            }
        }
    }

    #[inline(always)]
    fn peek(&self, n: u32) -> u32 {
        (self.buf >> (64 - n)) as u32
    }

    #[inline(always)]
    fn skip(&mut self, n: u32) {
        self.buf <<= n;
        self.count -= n;
    }

    /// `n <= 16` bits as a number.
    #[inline(always)]
    fn take(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let v = self.peek(n);
        self.skip(n);
        v
    }

    /// One symbol (after a refill: at most 16 bits). An invalid code reads as symbol 0, as
    /// libjpeg does after its warning.
    #[inline(always)]
    fn symbol(&mut self, t: &Huffman) -> u8 {
        let entry = t.codes[self.peek(LOOKAHEAD) as usize];
        if entry != 0 {
            self.skip((entry >> 8) as u32);
            return entry as u8;
        }
        let word = self.peek(16) as i32;
        for len in LOOKAHEAD as usize + 1..=16 {
            let code = word >> (16 - len);
            if code <= t.max_code[len] {
                self.skip(len as u32);
                let index = t.first_index[len] + (code - t.first_code[len]) as usize;
                return t.symbols.get(index).copied().unwrap_or(0);
            }
        }
        self.skip(16);
        0
    }

    /// One block's coefficients, dequantized, in natural order (`block` must be zero on entry):
    /// the DC difference added to `pred`, then the AC run-lengths. `quant` is in zig-zag order.
    #[inline(always)]
    pub(super) fn block(
        &mut self,
        dc: &Huffman,
        ac: &Huffman,
        quant: &[u16; 64],
        pred: &mut i32,
        block: &mut [i32; 64],
    ) {
        self.refill();
        let size = self.symbol(dc) as u32;
        *pred = pred.wrapping_add(extend(self.take(size), size));
        // libjpeg keeps coefficients as 16-bit integers.
        block[0] = (*pred as i16) as i32 * quant[0] as i32;
        let mut k = 1usize;
        while k < 64 {
            // The lookup reads bits already in the buffer (a symbol takes at most 31 of the 56
            // a refill leaves: a 16-bit code and 15 more), so the refill's load and shifts run
            // beside it instead of before it: about a tenth off the decoding time.
            debug_assert!(self.count >= LOOKAHEAD);
            let index = self.peek(LOOKAHEAD) as usize;
            self.refill();
            let entry = ac.fast_ac[index];
            let fast = entry as u32;
            if fast != 0 {
                self.skip(fast & 0xff);
                let run = ((fast >> 8) & 15) as usize;
                if fast & SPLIT_FLAG != 0 {
                    let size = fast >> 16;
                    k += run;
                    let z = k.min(63);
                    block[(ZIGZAG[z] & 63) as usize] = extend(self.take(size), size) * quant[z] as i32;
                    k += 1;
                    continue;
                }
                if fast & END_FLAG != 0 {
                    if run == 0 {
                        break;
                    }
                    k += 16;
                    continue;
                }
                k += run;
                let z = k.min(63);
                block[(ZIGZAG[z] & 63) as usize] = (fast as i32 >> 16) * quant[z] as i32;
                k += 1;
                // The next symbol, already looked up, unless the block ended without an end of
                // block (its bits are then the next block's). Whether there is one is not
                // predictable, so there is no branch on it: without one (0) this skips no bits
                // and writes a zero at `k`, not yet written.
                if k < 64 {
                    let second = (entry >> SECOND_SHIFT) as u32;
                    self.skip(second & 0xff);
                    if second & END_FLAG != 0 {
                        break;
                    }
                    k += ((second >> 8) & 15) as usize;
                    let z = k.min(63);
                    block[(ZIGZAG[z] & 63) as usize] = (second as i32 >> 16) * quant[z] as i32;
                    k += usize::from(second != 0);
                }
            } else {
                let symbol = self.symbol(ac);
                let (run, size) = ((symbol >> 4) as usize, (symbol & 15) as u32);
                if size == 0 {
                    if run != 15 {
                        break;
                    }
                    k += 16;
                    continue;
                }
                k += run;
                let z = k.min(63);
                block[(ZIGZAG[z] & 63) as usize] = extend(self.take(size), size) * quant[z] as i32;
                k += 1;
            }
        }
    }

    /// Drops the bits of the current byte and starts reading at `pos` (after a restart marker).
    pub(super) fn restart_at(&mut self, pos: usize) {
        self.pos = pos;
        self.buf = 0;
        self.count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// libjpeg's decoding of one block, a symbol at a time through the canonical tables: the
    /// reference for [`Bits::block`]'s table entries.
    fn block_reference(
        bits: &mut Bits,
        dc: &Huffman,
        ac: &Huffman,
        quant: &[u16; 64],
        pred: &mut i32,
        block: &mut [i32; 64],
    ) {
        bits.refill();
        let size = bits.symbol(dc) as u32;
        *pred = pred.wrapping_add(extend(bits.take(size), size));
        block[0] = (*pred as i16) as i32 * quant[0] as i32;
        let mut k = 1usize;
        while k < 64 {
            bits.refill();
            let symbol = bits.symbol(ac);
            let (run, size) = ((symbol >> 4) as usize, (symbol & 15) as u32);
            if size == 0 {
                if run != 15 {
                    break;
                }
                k += 16;
                continue;
            }
            k += run;
            let z = k.min(63);
            block[ZIGZAG[z] as usize] = extend(bits.take(size), size) * quant[z] as i32;
            k += 1;
        }
    }

    /// A random prefix code over `n` distinct random symbols (at most 15 for DC), short codes
    /// likelier when `short` (as in a high-quality photograph's AC table).
    fn random_table(rng: &mut Rng, ac: bool, short: bool) -> Huffman {
        loop {
            let alphabet: Vec<u8> = if ac { (0..=255).collect() } else { (0..=15).collect() };
            let n = 1 + rng.below(alphabet.len() as u64) as usize;
            let mut symbols = alphabet;
            for i in 0..symbols.len() {
                let j = i + rng.below((symbols.len() - i) as u64) as usize;
                symbols.swap(i, j);
            }
            symbols.truncate(n);
            // Lengths from 1 to 16, each taking some of the codes still free at it.
            let (mut counts, mut free, mut left) = ([0u8; 16], 2u64, n as u64);
            for (l, count) in counts.iter_mut().enumerate() {
                let most = if l == 15 { free.min(left) } else { (free - 1).min(left) };
                let take = if short || l == 15 { most } else { rng.below(most + 1) };
                let take = if short { take.min(1 + rng.below(free)) } else { take };
                *count = take as u8;
                left -= take;
                free = (free - take) * 2;
            }
            if left == 0
                && let Some(table) = Huffman::new(&counts, &symbols, ac)
            {
                return table;
            }
        }
    }

    /// Blocks decoded through the table entries (one or two coefficients a lookup, split extra
    /// bits) equal libjpeg's symbol-at-a-time decoding, coefficient for coefficient and bit for
    /// bit, over random tables and random streams, valid or not (runs past the block's end,
    /// blocks ending without an end of block, codes the table lacks, data running out).
    #[test]
    fn table_decoding_is_symbol_at_a_time_decoding() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut paired = 0;
        for case in 0..400 {
            let short = case % 2 == 0;
            let (dc, ac) = (random_table(&mut rng, false, short), random_table(&mut rng, true, short));
            paired += ac.fast_ac.iter().filter(|&&e| e >> SECOND_SHIFT != 0).count();
            let quant: [u16; 64] = std::array::from_fn(|_| 1 + rng.below(255) as u16);
            // Streams of random bytes, some mostly zeros or mostly ones (long runs of one code).
            let len = rng.below(3000) as usize;
            let bias = rng.below(3);
            let mut data: Vec<u8> = (0..len)
                .map(|_| match bias {
                    0 => rng.next() as u8,
                    1 => (rng.next() & rng.next() & rng.next()) as u8,
                    _ => (rng.next() | rng.next() | rng.next()) as u8,
                })
                .collect();
            data.extend_from_slice(&[0; 8]);
            let (mut fast, mut slow) = (Bits::new(&data), Bits::new(&data));
            let (mut pred_fast, mut pred_slow) = (0, 0);
            for b in 0..len / 16 + 2 {
                let (mut got, mut want) = ([0i32; 64], [0i32; 64]);
                fast.block(&dc, &ac, &quant, &mut pred_fast, &mut got);
                block_reference(&mut slow, &dc, &ac, &quant, &mut pred_slow, &mut want);
                assert_eq!(got, want, "case {case}, block {b}");
                assert_eq!(pred_fast, pred_slow);
                // The same bits consumed: the same position, and the same bits next.
                assert_eq!(
                    fast.pos * 8 - fast.count as usize,
                    slow.pos * 8 - slow.count as usize,
                    "case {case}, block {b}"
                );
            }
        }
        assert!(paired > 10_000, "the tables paired only {paired} entries");
    }
}
