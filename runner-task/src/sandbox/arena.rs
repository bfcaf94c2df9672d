//! A slot's arena: where a run's [`Prepared`](super::child::Prepared) data is
//! laid out, at an address that is the same in the runner and in every
//! process cloned from it after the arena was mapped.
//!
//! A run cloned for its command finds the data in its copy of the runner's
//! memory. A *warm* run (see `warm`), cloned before its command was known,
//! receives the arena's bytes and copies them to the same address in its own
//! memory: every pointer in them is then valid there too, and the child
//! never allocates.

use std::cell::Cell;
use std::ffi::CStr;
use std::ptr::NonNull;

use super::SandboxError;

#[derive(Debug)]
pub(super) struct Arena {
    base: NonNull<u8>,
    len: usize,
    used: Cell<usize>,
}

// SAFETY: the arena is owned by one slot, which one thread uses at a time
// (the spawner thread only while the owner waits for it).
unsafe impl Send for Arena {}

/// Plenty for the largest command the limits allow (the mapping's untouched
/// pages cost nothing).
pub(super) const ARENA_BYTES: usize = 4 << 20;

impl Arena {
    pub fn new() -> std::io::Result<Arena> {
        // SAFETY: a fresh private anonymous mapping.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ARENA_BYTES,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Arena {
            base: NonNull::new(p.cast()).expect("mmap returned a mapping"),
            len: ARENA_BYTES,
            used: Cell::new(0),
        })
    }

    /// Forgets everything laid out (no borrows of it are alive).
    pub fn reset(&mut self) {
        self.used.set(0);
    }

    fn bytes(&self, size: usize, align: usize) -> Result<*mut u8, SandboxError> {
        let start = self.used.get().next_multiple_of(align);
        let end = start
            .checked_add(size)
            .filter(|&e| e <= self.len)
            .ok_or_else(|| SandboxError::Command("the command is too large".into()))?;
        self.used.set(end);
        // SAFETY: start + size is within the mapping.
        Ok(unsafe { self.base.as_ptr().add(start) })
    }

    /// Copies `v` into the arena.
    pub fn put<T: Copy>(&self, v: T) -> Result<&T, SandboxError> {
        let p = self.bytes(size_of::<T>(), align_of::<T>())?.cast::<T>();
        // SAFETY: p is aligned, in bounds and not handed out before.
        unsafe {
            p.write(v);
            Ok(&*p)
        }
    }

    /// Copies `v` into the arena.
    pub fn slice<T: Copy>(&self, v: &[T]) -> Result<&[T], SandboxError> {
        let p = self.bytes(size_of_val(v), align_of::<T>())?.cast::<T>();
        // SAFETY: room for v.len() aligned values, not handed out before.
        unsafe {
            std::ptr::copy_nonoverlapping(v.as_ptr(), p, v.len());
            Ok(std::slice::from_raw_parts(p, v.len()))
        }
    }

    /// `s` as a C string in the arena.
    pub fn cstr(&self, s: &[u8]) -> Result<&CStr, SandboxError> {
        if s.contains(&0) {
            return Err(SandboxError::Command("NUL byte in command".into()));
        }
        let p = self.bytes(s.len() + 1, 1)?;
        // SAFETY: room for s and its terminator, not handed out before.
        unsafe {
            std::ptr::copy_nonoverlapping(s.as_ptr(), p, s.len());
            p.add(s.len()).write(0);
            Ok(CStr::from_bytes_with_nul_unchecked(
                std::slice::from_raw_parts(p, s.len() + 1),
            ))
        }
    }

    /// The bytes laid out so far, from the arena's start.
    pub fn image(&self) -> &[u8] {
        // SAFETY: the first `used` bytes were written.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr(), self.used.get()) }
    }

    /// Offset of a value laid out in the arena.
    pub fn offset_of<T>(&self, v: &T) -> usize {
        (v as *const T as usize) - (self.base.as_ptr() as usize)
    }

    /// In a process cloned after the arena was mapped: where its copy is.
    pub fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    pub fn capacity(&self) -> usize {
        self.len
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping; no borrows outlive the arena.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_aligned_and_the_image_holds_them() {
        let mut a = Arena::new().unwrap();
        let s = a.cstr(b"/usr/bin/python3").unwrap();
        assert_eq!(s.to_bytes(), b"/usr/bin/python3");
        let n = a.put(7u64).unwrap();
        assert_eq!(*n, 7);
        assert_eq!((n as *const u64 as usize) % 8, 0);
        let off = a.offset_of(n);
        assert_eq!(a.image().len(), off + 8);
        assert!(a.cstr(b"a\0b").is_err());
        assert!(a.slice(&vec![0u8; ARENA_BYTES]).is_err());
        a.reset();
        assert!(a.image().is_empty());
    }
}
