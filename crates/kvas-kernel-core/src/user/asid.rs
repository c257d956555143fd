//! ASID allocation with generations, as Linux's riscv `arch/riscv/mm/context.c` does (the
//! facts carry over, the code is kvas's): a context id is `generation | asid`; a context whose
//! generation is the current one keeps its ASID; otherwise it takes a free ASID of the current
//! generation (its old one if free); when none is free, the generation rolls over: every ASID
//! becomes free again and the whole TLB must be flushed, since entries of the old generation's
//! ASIDs may still be cached. ASID 0 is the kernel's and never handed out. With no ASIDs
//! (width 0) every switch must flush.

/// The most ASID bits RV64's `satp` has.
pub const MAX_ASID_BITS: u32 = 16;

const WORDS: usize = (1 << MAX_ASID_BITS) / 64;

/// The ASID allocator of one hart.
pub struct Asids {
    bits: u32,
    /// The current generation, in the bits above the ASID (a multiple of `1 << bits`).
    generation: u64,
    /// ASIDs taken in the current generation.
    map: [u64; WORDS],
    rollovers: u64,
}

/// What a switch to a context needs: its ASID, and whether the whole TLB must be flushed
/// first (a rollover, or no ASIDs at all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Switch {
    /// The ASID to put in `satp`.
    pub asid: u16,
    /// Flush every non-global translation before running the context.
    pub flush_all: bool,
}

impl Asids {
    /// An allocator for `bits` ASID bits (capped at 16).
    pub fn new(bits: u32) -> Self {
        let bits = bits.min(MAX_ASID_BITS);
        let mut a = Asids { bits, generation: 1 << bits, map: [0; WORDS], rollovers: 0 };
        a.take(0);
        a
    }

    /// The ASID width in use.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// How many times the generation rolled over.
    pub fn rollovers(&self) -> u64 {
        self.rollovers
    }

    fn take(&mut self, asid: u64) -> bool {
        let (w, b) = ((asid / 64) as usize, asid % 64);
        let was = self.map[w] & (1 << b) != 0;
        self.map[w] |= 1 << b;
        !was
    }

    /// The ASID for the context whose id is `*ctx` (0 for a new context), updating `*ctx`.
    pub fn switch(&mut self, ctx: &mut u64) -> Switch {
        if self.bits == 0 {
            return Switch { asid: 0, flush_all: true };
        }
        let count = 1u64 << self.bits;
        let mask = count - 1;
        if *ctx != 0 && *ctx & !mask == self.generation {
            return Switch { asid: (*ctx & mask) as u16, flush_all: false };
        }
        // An old generation's ASID is kept if nobody took it in this one.
        let old = *ctx & mask;
        if *ctx != 0 && old != 0 && self.take(old) {
            *ctx = self.generation | old;
            return Switch { asid: old as u16, flush_all: false };
        }
        if let Some(asid) = self.find_free(count) {
            self.take(asid);
            *ctx = self.generation | asid;
            return Switch { asid: asid as u16, flush_all: false };
        }
        // Rollover: a new generation, every ASID free again (0 stays the kernel's).
        self.generation = self.generation.wrapping_add(count);
        if self.generation == 0 {
            self.generation = count;
        }
        self.rollovers += 1;
        let used = (count as usize).div_ceil(64);
        self.map[..used].fill(0);
        self.take(0);
        self.take(1);
        *ctx = self.generation | 1;
        Switch { asid: 1, flush_all: true }
    }

    fn find_free(&self, count: u64) -> Option<u64> {
        let words = (count as usize).div_ceil(64);
        self.map[..words].iter().enumerate().find_map(|(w, &bits)| {
            let free = !bits;
            let asid = w as u64 * 64 + free.trailing_zeros() as u64;
            (free != 0 && asid < count).then_some(asid)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_context_keeps_its_asid_within_a_generation() {
        let mut a = Asids::new(4);
        let (mut c1, mut c2) = (0, 0);
        let s1 = a.switch(&mut c1);
        let s2 = a.switch(&mut c2);
        assert_eq!((s1.asid, s2.asid), (1, 2));
        assert_eq!(a.switch(&mut c1), Switch { asid: 1, flush_all: false });
    }

    #[test]
    fn running_out_rolls_over_and_flushes() {
        let mut a = Asids::new(2); // ASIDs 1, 2, 3
        let mut ctx = [0u64; 4];
        for (i, c) in ctx.iter_mut().take(3).enumerate() {
            assert_eq!(a.switch(c), Switch { asid: i as u16 + 1, flush_all: false });
        }
        assert_eq!(a.switch(&mut ctx[3]), Switch { asid: 1, flush_all: true });
        assert_eq!(a.rollovers(), 1);
        // The old generation's contexts get new ASIDs, never the one ctx[3] holds now.
        let s0 = a.switch(&mut ctx[0]);
        assert!(!s0.flush_all && s0.asid != 1);
    }

    #[test]
    fn no_asids_flushes_every_switch() {
        let mut a = Asids::new(0);
        let mut c = 0;
        assert_eq!(a.switch(&mut c), Switch { asid: 0, flush_all: true });
        assert_eq!(a.switch(&mut c), Switch { asid: 0, flush_all: true });
    }

    #[test]
    fn one_bit_rolls_over_on_every_new_context() {
        let mut a = Asids::new(1);
        let (mut c1, mut c2) = (0, 0);
        assert_eq!(a.switch(&mut c1), Switch { asid: 1, flush_all: false });
        assert_eq!(a.switch(&mut c2), Switch { asid: 1, flush_all: true });
        assert_eq!(a.switch(&mut c1), Switch { asid: 1, flush_all: true });
    }

    proptest! {
        /// A model TLB: which context's translations each ASID may hold. Running a context
        /// with an ASID whose cached entries belong to another context, with no flush since,
        /// is a stale translation.
        #[test]
        fn no_stale_translation_survives(bits in 0u32..5, seq in proptest::collection::vec(0usize..12, 1..200)) {
            let mut a = Asids::new(bits);
            let mut ctx = [0u64; 12];
            let mut tlb: std::collections::HashMap<u16, usize> = Default::default();
            for &c in &seq {
                let s = a.switch(&mut ctx[c]);
                if s.flush_all {
                    tlb.clear();
                }
                if bits > 0 {
                    prop_assert_ne!(s.asid, 0, "ASID 0 is the kernel's");
                }
                if let Some(&owner) = tlb.get(&s.asid) {
                    prop_assert_eq!(owner, c, "ASID {} still caches context {}'s entries", s.asid, owner);
                }
                tlb.insert(s.asid, c);
            }
        }
    }
}
