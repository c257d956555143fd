//! Simulated physical memory: the whole 56-bit physical space, sparse.
//!
//! [`Ram`] materialises a zero-filled 4 KiB frame the first time something
//! writes to it or asks for its pointer, and never frees or moves it again, so a
//! pointer handed out by [`PhysMemory::frame_ptr`] stays valid for as long as the
//! `Ram` lives. Reading a frame that was never touched returns zeros without
//! materialising it, so the software MMU can walk empty tables for free.

use core::cell::{RefCell, UnsafeCell};
use std::boxed::Box;
use std::collections::HashMap;
use std::vec::Vec;

use crate::addr::{PhysAddr, VirtAddr, PAGE_SIZE};
use crate::paging::PhysMemory;
use crate::Error;

/// 64-bit words in a frame.
const WORDS: usize = (PAGE_SIZE / 8) as usize;

/// One 4 KiB frame. Its contents are only ever reached through raw pointers
/// (never through a Rust reference), so the engine's pointers and the helpers
/// below never alias a live reference.
struct Frame(UnsafeCell<[u64; WORDS]>);

impl Frame {
    fn zeroed() -> Box<Self> {
        Box::new(Frame(UnsafeCell::new([0; WORDS])))
    }

    fn base(&self) -> *mut u64 {
        self.0.get().cast::<u64>()
    }
}

/// Sparse simulated physical memory covering every address of
/// [`PhysAddr::MAX_BITS`] bits.
///
/// `Ram` implements [`PhysMemory`], both by value and as `&Ram`, so the engine
/// can own it or borrow it while a test keeps looking at the same memory:
///
/// ```
/// use kvas::sim::Ram;
/// use kvas::PhysAddr;
///
/// let ram = Ram::new();
/// let pa = PhysAddr::new(0x8020_0ff8).unwrap();
/// ram.write_u64(pa, 0x1122_3344_5566_7788).unwrap();
/// assert_eq!(ram.read_u64(pa).unwrap(), 0x1122_3344_5566_7788);
/// assert_eq!(ram.read_u8(PhysAddr::new(0x8020_0fff).unwrap()), 0x11); // little-endian
/// assert_eq!(ram.frames_touched(), 1);
/// ```
///
/// `Ram` is not `Sync`: one thread uses it at a time.
#[derive(Default)]
pub struct Ram {
    /// Frame number (address >> 12) to frame. A frame is never removed.
    frames: RefCell<HashMap<u64, Box<Frame>>>,
    /// The break-before-make steps the engine reported, oldest first.
    breaks: RefCell<Vec<Break>>,
}

/// One break-before-make step, as the engine reported it through
/// [`PhysMemory::invalidate`]: the entry for `va` at `level` was made invalid,
/// and `memory` is a copy of the whole [`Ram`] at that moment, so a test can
/// check with an MMU model that the old translation was really gone.
#[derive(Debug)]
pub struct Break {
    /// The first address the entry maps.
    pub va: VirtAddr,
    /// The entry's level (kvas numbering: 0 holds 4 KiB pages).
    pub level: u8,
    /// The memory when the TLB invalidation would have run.
    pub memory: Ram,
}

impl Ram {
    /// Empty memory: every byte reads as zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many 4 KiB frames have been materialised (written to, or handed
    /// out as table frames through [`PhysMemory::frame_ptr`]).
    pub fn frames_touched(&self) -> usize {
        self.frames.borrow().len()
    }

    /// A copy of every frame (the recorded breaks are not copied).
    pub fn snapshot(&self) -> Ram {
        let copy = Ram::new();
        for (&pfn, frame) in self.frames.borrow().iter() {
            let fresh = Frame::zeroed();
            // SAFETY: both frames are live 4 KiB arrays; no reference to their
            // contents exists; they do not overlap.
            unsafe { core::ptr::copy_nonoverlapping(frame.base(), fresh.base(), WORDS) };
            copy.frames.borrow_mut().insert(pfn, fresh);
        }
        copy
    }

    /// Takes the break-before-make steps recorded so far, oldest first.
    pub fn take_breaks(&self) -> Vec<Break> {
        core::mem::take(&mut *self.breaks.borrow_mut())
    }

    /// Whether the frame holding `pa` has been materialised.
    pub fn is_touched(&self, pa: PhysAddr) -> bool {
        self.frames.borrow().contains_key(&(pa.as_u64() / PAGE_SIZE))
    }

    /// The base pointer of the frame numbered `pfn`, materialising it.
    fn frame_base(&self, pfn: u64) -> *mut u64 {
        let mut frames = self.frames.borrow_mut();
        // The box gives the frame a heap address that rehashing never moves.
        frames.entry(pfn).or_insert_with(Frame::zeroed).base()
    }

    /// The base pointer of the frame numbered `pfn` if it exists.
    fn existing_base(&self, pfn: u64) -> Option<*mut u64> {
        self.frames.borrow().get(&pfn).map(|frame| frame.base())
    }

    /// Checks that `len` bytes from `pa` stay inside the physical space.
    fn check_range(pa: PhysAddr, len: usize) -> Result<(), Error> {
        if len == 0 {
            return Ok(());
        }
        let last = pa.as_u64().checked_add(len as u64 - 1);
        match last {
            Some(last) if last >> PhysAddr::MAX_BITS == 0 => Ok(()),
            _ => Err(Error::PhysAddrTooWide { raw: last.unwrap_or(u64::MAX), max_bits: PhysAddr::MAX_BITS }),
        }
    }

    /// One byte; zero if its frame was never touched.
    pub fn read_u8(&self, pa: PhysAddr) -> u8 {
        let raw = pa.as_u64();
        match self.existing_base(raw / PAGE_SIZE) {
            // SAFETY: `base` points to a live 4 KiB frame owned by `self.frames`
            // (frames are never removed); `raw % PAGE_SIZE < 4096` keeps the byte
            // inside it, and no reference to frame contents exists.
            Some(base) => unsafe { base.cast::<u8>().add((raw % PAGE_SIZE) as usize).read() },
            None => 0,
        }
    }

    /// Writes one byte, materialising its frame.
    pub fn write_u8(&self, pa: PhysAddr, value: u8) {
        let raw = pa.as_u64();
        let base = self.frame_base(raw / PAGE_SIZE);
        // SAFETY: as in `read_u8`: the byte is inside a live frame and nothing
        // holds a reference to frame contents.
        unsafe { base.cast::<u8>().add((raw % PAGE_SIZE) as usize).write(value) }
    }

    /// Fills `buf` from `pa` onward (frames may be crossed); fails if the range
    /// runs past the top of the physical space.
    pub fn read_bytes(&self, pa: PhysAddr, buf: &mut [u8]) -> Result<(), Error> {
        Self::check_range(pa, buf.len())?;
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte = self.read_u8(PhysAddr::new_truncate(pa.as_u64() + i as u64));
        }
        Ok(())
    }

    /// Copies `bytes` to `pa` onward (frames may be crossed); fails, writing
    /// nothing, if the range runs past the top of the physical space.
    pub fn write_bytes(&self, pa: PhysAddr, bytes: &[u8]) -> Result<(), Error> {
        Self::check_range(pa, bytes.len())?;
        for (i, byte) in bytes.iter().enumerate() {
            self.write_u8(PhysAddr::new_truncate(pa.as_u64() + i as u64), *byte);
        }
        Ok(())
    }

    /// The little-endian 64-bit word at `pa` (any alignment).
    pub fn read_u64(&self, pa: PhysAddr) -> Result<u64, Error> {
        let mut bytes = [0; 8];
        self.read_bytes(pa, &mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    /// Writes a little-endian 64-bit word at `pa` (any alignment).
    pub fn write_u64(&self, pa: PhysAddr, value: u64) -> Result<(), Error> {
        self.write_bytes(pa, &value.to_le_bytes())
    }

    /// The naturally aligned word at `raw & !7`, for the software MMU: `raw` is
    /// always below 2^56 there, because it comes from a 44-bit PPN.
    pub(crate) fn read_pte(&self, raw: u64) -> u64 {
        let pfn = raw / PAGE_SIZE;
        match self.existing_base(pfn) {
            // SAFETY: `base` is a live frame; the index is below 512; no
            // reference to frame contents exists.
            Some(base) => unsafe { base.add(((raw % PAGE_SIZE) / 8) as usize).read() },
            None => 0,
        }
    }
}

impl core::fmt::Debug for Ram {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ram").field("frames_touched", &self.frames_touched()).finish()
    }
}

// SAFETY: (1) `frame_base` returns the base of a boxed 4 KiB frame, materialised
// on demand: non-null, 8-byte aligned ([u64; 512]), valid for reads and writes of
// the whole frame; a frame is never removed or moved while the `Ram` lives, so
// the pointer outlives the next `frame_ptr` call, as required. (2) `Ram` never
// creates a Rust reference to frame contents: its helpers go through raw
// pointers, so none is live while the engine uses the pointer. An unaligned `pa`
// (never passed by the engine) yields the frame that contains it.
unsafe impl PhysMemory for Ram {
    fn frame_ptr(&self, pa: PhysAddr) -> *mut u64 {
        self.frame_base(pa.as_u64() / PAGE_SIZE)
    }

    fn invalidate(&self, va: VirtAddr, level: u8) {
        let memory = self.snapshot();
        self.breaks.borrow_mut().push(Break { va, level, memory });
    }
}

// SAFETY: the same frames as the `Ram` impl above; the borrow keeps the `Ram`
// (and so every frame) alive while the engine holds a pointer.
unsafe impl PhysMemory for &Ram {
    fn frame_ptr(&self, pa: PhysAddr) -> *mut u64 {
        (**self).frame_ptr(pa)
    }

    fn invalidate(&self, va: VirtAddr, level: u8) {
        (**self).invalidate(va, level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pa(raw: u64) -> PhysAddr {
        PhysAddr::new(raw).unwrap()
    }

    #[test]
    fn untouched_memory_reads_zero_without_materialising() {
        let ram = Ram::new();
        assert_eq!(ram.read_u64(pa(0x8000_0000)), Ok(0));
        assert_eq!(ram.read_u8(pa((1 << 56) - 1)), 0);
        assert_eq!(ram.frames_touched(), 0);
        assert!(!ram.is_touched(pa(0x8000_0000)));
    }

    #[test]
    fn words_and_bytes_round_trip_across_frames() {
        let ram = Ram::new();
        // A word straddling two frames.
        ram.write_u64(pa(0x1ffc), 0x0102_0304_0506_0708).unwrap();
        assert_eq!(ram.read_u64(pa(0x1ffc)), Ok(0x0102_0304_0506_0708));
        assert_eq!(ram.read_u8(pa(0x1ffc)), 0x08);
        assert_eq!(ram.read_u8(pa(0x2003)), 0x01);
        assert_eq!(ram.frames_touched(), 2);
        let mut buf = [0u8; 6];
        ram.read_bytes(pa(0x1ffe), &mut buf).unwrap();
        assert_eq!(buf, [0x06, 0x05, 0x04, 0x03, 0x02, 0x01]);
        ram.write_bytes(pa(0x1fff), b"xy").unwrap();
        assert_eq!(ram.read_u64(pa(0x1ff8)).unwrap() >> 56, u64::from(b'x'));
        assert_eq!(ram.read_u8(pa(0x2000)), b'y');
    }

    #[test]
    fn the_top_of_the_physical_space_is_reachable_and_not_beyond() {
        let ram = Ram::new();
        let top = (1 << 56) - 8;
        ram.write_u64(pa(top), u64::MAX).unwrap();
        assert_eq!(ram.read_u64(pa(top)), Ok(u64::MAX));
        let err = Error::PhysAddrTooWide { raw: 1 << 56, max_bits: 56 };
        assert_eq!(ram.write_u64(pa(top + 1), 7), Err(err));
        assert_eq!(ram.read_u64(pa(top + 1)), Err(err));
        // A failed write writes nothing.
        assert_eq!(ram.read_u8(pa(top + 1)), 0xff);
        let mut buf = [0u8; 16];
        assert_eq!(
            ram.read_bytes(pa(top), &mut buf),
            Err(Error::PhysAddrTooWide { raw: top + 15, max_bits: 56 })
        );
        assert_eq!(ram.read_bytes(pa(top), &mut []), Ok(()));
    }

    /// Goes through the `&Ram` impl, as an engine generic over `M: PhysMemory` would.
    fn through<M: PhysMemory>(mem: M, pa: PhysAddr) -> *mut u64 {
        mem.frame_ptr(pa)
    }

    #[test]
    fn frame_pointers_are_zeroed_stable_and_shared_with_the_helpers() {
        let ram = Ram::new();
        let first = ram.frame_ptr(pa(0x8000_0000));
        assert_eq!(first as usize % 8, 0);
        // Materialise many more frames so the map rehashes.
        for i in 1..2000u64 {
            let p = through(&ram, pa(0x8000_0000 + i * PAGE_SIZE));
            // SAFETY: `p` is the base of a live frame of `ram`; index 511 is in it.
            assert_eq!(unsafe { p.add(511).read() }, 0);
        }
        assert_eq!(ram.frame_ptr(pa(0x8000_0000)), first);
        // SAFETY: `first` is still valid (frames never move); index 3 is in the frame.
        unsafe { first.add(3).write(0xdead_beef) };
        assert_eq!(ram.read_u64(pa(0x8000_0018)), Ok(0xdead_beef));
        assert_eq!(ram.read_pte(0x8000_0018), 0xdead_beef);
        assert_eq!(ram.frames_touched(), 2000);
        // An unaligned address names the frame that holds it.
        assert_eq!(ram.frame_ptr(pa(0x8000_0123)), first);
    }
}
