//! Big-endian reads and writes at fixed offsets, bounds-checked, for every
//! packet view in the probe (the STAMP codec, ICMP, the bandwidth test's
//! datagram). The views check their length once in `new_checked`; these
//! helpers still never index out of bounds (a read past the end gives 0, a
//! write past it does nothing), so an accessor cannot panic even on a buffer
//! whose `AsRef` length changed underneath it.

pub fn get_u8(buf: &[u8], at: usize) -> u8 {
    buf.get(at).copied().unwrap_or(0)
}

pub fn get_u16(buf: &[u8], at: usize) -> u16 {
    match buf.get(at..at.saturating_add(2)) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

pub fn get_u32(buf: &[u8], at: usize) -> u32 {
    match buf.get(at..at.saturating_add(4)) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

pub fn get_u64(buf: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(get_array(buf, at))
}

pub fn get_array<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = buf.get(at..at.saturating_add(N)) {
        out.copy_from_slice(src);
    }
    out
}

pub fn put_u8(buf: &mut [u8], at: usize, value: u8) {
    if let Some(dst) = buf.get_mut(at) {
        *dst = value;
    }
}

pub fn put_bytes(buf: &mut [u8], at: usize, value: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at.saturating_add(value.len())) {
        dst.copy_from_slice(value);
    }
}

pub fn put_u16(buf: &mut [u8], at: usize, value: u16) {
    put_bytes(buf, at, &value.to_be_bytes());
}

pub fn put_u32(buf: &mut [u8], at: usize, value: u32) {
    put_bytes(buf, at, &value.to_be_bytes());
}

pub fn put_u64(buf: &mut [u8], at: usize, value: u64) {
    put_bytes(buf, at, &value.to_be_bytes());
}

pub fn zero(buf: &mut [u8], range: core::ops::Range<usize>) {
    if let Some(dst) = buf.get_mut(range) {
        dst.fill(0);
    }
}

pub fn slice(buf: &[u8], range: core::ops::Range<usize>) -> &[u8] {
    buf.get(range).unwrap_or(&[])
}
