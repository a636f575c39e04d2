//! Buffers aligned to a cache line. A 512-bit load from a 64-byte aligned address never
//! straddles two lines; `Vec` storage from the system allocator is only 16-byte aligned (large
//! blocks sit 16 bytes into a page), so every vector load from it would touch two lines.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

/// Element types for which all-zero bytes are a valid value.
pub trait Zeroable: Copy + 'static {}
impl Zeroable for f32 {}
impl Zeroable for u8 {}
impl Zeroable for i8 {}
impl Zeroable for i16 {}
impl Zeroable for i32 {}

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// A fixed-length, zero-initialised, 64-byte aligned array of `T`, used as a slice.
#[derive(Clone)]
pub struct AlignedVec<T: Zeroable> {
    lines: Vec<Line>,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Zeroable> AlignedVec<T> {
    pub fn zeroed(len: usize) -> AlignedVec<T> {
        let bytes = len.checked_mul(size_of::<T>()).expect("buffer size overflows");
        AlignedVec { lines: vec![Line([0; 64]); bytes.div_ceil(64)], len, _t: PhantomData }
    }
}

impl<T: Zeroable> Deref for AlignedVec<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the lines hold at least len * size_of::<T>() initialised bytes, aligned to 64
        // (>= align_of::<T>()), and any bytes are a valid T (Zeroable types are plain numbers).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr() as *const T, self.len) }
    }
}

impl<T: Zeroable> DerefMut for AlignedVec<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr() as *mut T, self.len) }
    }
}

impl<T: Zeroable + std::fmt::Debug> std::fmt::Debug for AlignedVec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlignedVec<{}>[{}]", std::any::type_name::<T>(), self.len)
    }
}

impl<T: Zeroable + PartialEq> PartialEq for AlignedVec<T> {
    fn eq(&self, other: &Self) -> bool {
        self[..] == other[..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_zeroed_and_writable() {
        for len in [0, 1, 15, 16, 17, 1000] {
            let mut v = AlignedVec::<f32>::zeroed(len);
            assert_eq!(v.as_ptr() as usize % 64, 0);
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&x| x == 0.0));
            v.iter_mut().enumerate().for_each(|(i, x)| *x = i as f32);
            assert_eq!(v.last().copied(), len.checked_sub(1).map(|i| i as f32));
        }
    }
}
