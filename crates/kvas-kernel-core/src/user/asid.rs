//! ASID allocation with generations over several harts, as Linux's riscv
//! `arch/riscv/mm/context.c` does (the facts carry over, the code is kvas's): a context id is
//! `generation | asid`; a context whose generation is the current one keeps its ASID;
//! otherwise it takes its old ASID if that is free in the current generation, else the first
//! free one. When none is free the generation rolls over: every ASID becomes free again,
//! **except the ASID each other hart is running** (Linux's per-CPU active and reserved
//! contexts): those stay taken, so no ASID is ever handed to a second live address space, and
//! a reserved context keeps its ASID into the new generation when it is next switched to.
//! Every hart must then flush its whole TLB (the old generation's entries may still be cached
//! there) — each before its next switch, not at once (a hart running a reserved context needs
//! no flush until it switches): [`Switch::flush_all`] says when. ASID 0 is the kernel's and
//! never handed out. With no ASIDs (width 0), or fewer ASIDs than harts need, every switch
//! flushes.

/// The most ASID bits RV64's `satp` has.
pub const MAX_ASID_BITS: u32 = 16;

/// The most harts an allocator serves (hart indices `0..MAX_HARTS`).
pub const MAX_HARTS: usize = 8;

const WORDS: usize = (1 << MAX_ASID_BITS) / 64;

/// The ASID allocator every hart shares (under the caller's lock).
pub struct Asids {
    bits: u32,
    /// The current generation, in the bits above the ASID (a multiple of `1 << bits`).
    generation: u64,
    /// ASIDs taken in the current generation.
    map: [u64; WORDS],
    /// The context each hart last switched to (0: none since the last rollover).
    active: [u64; MAX_HARTS],
    /// The context each hart was running at the last rollover, whose ASID stayed taken.
    reserved: [u64; MAX_HARTS],
    /// Harts that must flush their whole TLB before their next switch (bit per hart).
    flush_pending: u64,
    rollovers: u64,
}

/// What a switch to a context needs: its ASID, and whether the whole TLB must be flushed
/// first (a rollover, or no ASIDs at all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Switch {
    /// The ASID to put in `satp`.
    pub asid: u16,
    /// Flush every non-global translation on this hart before running the context.
    pub flush_all: bool,
}

impl Asids {
    /// An allocator for `bits` ASID bits (capped at 16) shared by at most `harts` harts
    /// (capped at [`MAX_HARTS`]). A rollover keeps the other harts' ASIDs, so there must be at
    /// least `harts` usable ASIDs (besides 0) for one to be left: with fewer, the allocator
    /// uses none (width 0), as Linux turns ASIDs off when it has too few for its CPUs.
    pub fn new(bits: u32, harts: u32) -> Self {
        let bits = bits.min(MAX_ASID_BITS);
        let harts = u64::from(harts.clamp(1, MAX_HARTS as u32));
        let bits = if (1u64 << bits) > harts { bits } else { 0 };
        let mut a = Asids {
            bits,
            generation: 1 << bits,
            map: [0; WORDS],
            active: [0; MAX_HARTS],
            reserved: [0; MAX_HARTS],
            flush_pending: 0,
            rollovers: 0,
        };
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

    fn mask(&self) -> u64 {
        (1u64 << self.bits) - 1
    }

    fn take(&mut self, asid: u64) -> bool {
        let (w, b) = ((asid / 64) as usize, asid % 64);
        let was = self.map[w] & (1 << b) != 0;
        self.map[w] |= 1 << b;
        !was
    }

    /// The ASID for the context whose id is `*ctx` (0 for a new context) on hart `hart` (an
    /// index below [`MAX_HARTS`]), updating `*ctx`.
    pub fn switch(&mut self, hart: usize, ctx: &mut u64) -> Switch {
        if self.bits == 0 {
            return Switch { asid: 0, flush_all: true };
        }
        let hart = hart.min(MAX_HARTS - 1);
        if *ctx == 0 || *ctx & !self.mask() != self.generation {
            *ctx = self.new_context(hart, *ctx);
            if *ctx == 0 {
                return Switch { asid: 0, flush_all: true };
            }
        }
        self.active[hart] = *ctx;
        let flush_all = self.flush_pending & (1 << hart) != 0;
        self.flush_pending &= !(1 << hart);
        Switch { asid: (*ctx & self.mask()) as u16, flush_all }
    }

    /// A context id of the current generation for `ctx` (of an older one, or 0: new).
    fn new_context(&mut self, hart: usize, ctx: u64) -> u64 {
        let mask = self.mask();
        if ctx != 0 {
            let old = ctx & mask;
            let renewed = self.generation | old;
            // A context another hart was running at the rollover keeps its (reserved) ASID.
            if self.update_reserved(ctx, renewed) {
                return renewed;
            }
            // An old generation's ASID is kept if nobody took it in this one.
            if old != 0 && self.take(old) {
                return renewed;
            }
        }
        if let Some(asid) = self.find_free() {
            self.take(asid);
            return self.generation | asid;
        }
        self.rollover(hart);
        match self.find_free() {
            Some(asid) => {
                self.take(asid);
                self.generation | asid
            }
            // Only if more harts switch than `new` was told: this context gets no ASID and
            // its switches flush, as with width 0.
            None => 0,
        }
    }

    /// Whether `ctx` is some hart's reserved context; if so, every such slot becomes
    /// `renewed` (the same ASID in the current generation).
    fn update_reserved(&mut self, ctx: u64, renewed: u64) -> bool {
        let mut hit = false;
        for r in self.reserved.iter_mut().filter(|r| **r == ctx) {
            *r = renewed;
            hit = true;
        }
        hit
    }

    /// A new generation: every ASID free again but 0 and the ones the other harts run
    /// (reserved); every hart flushes before its next switch.
    fn rollover(&mut self, me: usize) {
        let count = 1u64 << self.bits;
        self.generation = self.generation.wrapping_add(count);
        if self.generation == 0 {
            self.generation = count;
        }
        self.rollovers += 1;
        let used = (count as usize).div_ceil(64);
        self.map[..used].fill(0);
        self.take(0);
        for h in 0..MAX_HARTS {
            // A hart that has not switched since the last rollover still runs its reserved
            // context. This hart is leaving its context: nothing of it needs keeping.
            let running = core::mem::take(&mut self.active[h]);
            let running = if running == 0 { self.reserved[h] } else { running };
            self.reserved[h] = if h == me { 0 } else { running };
            if self.reserved[h] != 0 {
                self.take(self.reserved[h] & (count - 1));
            }
        }
        self.flush_pending = (1 << MAX_HARTS) - 1;
    }

    fn find_free(&self) -> Option<u64> {
        let count = 1u64 << self.bits;
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
        let mut a = Asids::new(4, 1);
        let (mut c1, mut c2) = (0, 0);
        let s1 = a.switch(0, &mut c1);
        let s2 = a.switch(0, &mut c2);
        assert_eq!((s1.asid, s2.asid), (1, 2));
        assert_eq!(a.switch(0, &mut c1), Switch { asid: 1, flush_all: false });
    }

    #[test]
    fn running_out_rolls_over_and_flushes() {
        let mut a = Asids::new(2, 1); // ASIDs 1, 2, 3
        let mut ctx = [0u64; 4];
        for (i, c) in ctx.iter_mut().take(3).enumerate() {
            assert_eq!(a.switch(0, c), Switch { asid: i as u16 + 1, flush_all: false });
        }
        assert_eq!(a.switch(0, &mut ctx[3]), Switch { asid: 1, flush_all: true });
        assert_eq!(a.rollovers(), 1);
        // The old generation's contexts get new ASIDs, never the one ctx[3] holds now.
        let s0 = a.switch(0, &mut ctx[0]);
        assert!(!s0.flush_all && s0.asid != 1);
    }

    #[test]
    fn no_asids_flushes_every_switch() {
        let mut a = Asids::new(0, 1);
        let mut c = 0;
        assert_eq!(a.switch(0, &mut c), Switch { asid: 0, flush_all: true });
        assert_eq!(a.switch(0, &mut c), Switch { asid: 0, flush_all: true });
    }

    #[test]
    fn one_bit_rolls_over_on_every_new_context() {
        let mut a = Asids::new(1, 1);
        let (mut c1, mut c2) = (0, 0);
        assert_eq!(a.switch(0, &mut c1), Switch { asid: 1, flush_all: false });
        assert_eq!(a.switch(0, &mut c2), Switch { asid: 1, flush_all: true });
        assert_eq!(a.switch(0, &mut c1), Switch { asid: 1, flush_all: true });
    }

    #[test]
    fn too_few_asids_for_the_harts_means_none() {
        // 3 usable ASIDs: enough for 3 harts, not for 4 (a rollover keeps 3 others').
        assert_eq!(Asids::new(2, 3).bits(), 2);
        assert_eq!(Asids::new(2, 4).bits(), 0);
        assert_eq!(Asids::new(1, 2).bits(), 0);
        assert_eq!(Asids::new(16, 8).bits(), 16);
    }

    #[test]
    fn a_rollover_keeps_the_other_harts_asid() {
        let mut a = Asids::new(2, 2); // ASIDs 1, 2, 3
        let mut ctx = [0u64; 5];
        assert_eq!(a.switch(1, &mut ctx[0]).asid, 1); // hart 1 runs context 0 on ASID 1
        assert_eq!(a.switch(0, &mut ctx[1]).asid, 2);
        assert_eq!(a.switch(0, &mut ctx[2]).asid, 3);
        // Hart 0 rolls over: ASID 1 stays context 0's (hart 1 still runs it).
        let s = a.switch(0, &mut ctx[3]);
        assert_eq!((s.asid, s.flush_all, a.rollovers()), (2, true, 1));
        let s = a.switch(0, &mut ctx[4]);
        assert_eq!((s.asid, s.flush_all), (3, false));
        // Hart 1 switches to context 0 again: it keeps ASID 1 into the new generation, and
        // flushes (the old generation's entries may be cached there).
        assert_eq!(a.switch(1, &mut ctx[0]), Switch { asid: 1, flush_all: true });
        // Hart 1 goes on to context 1: none of the live ASIDs (hart 0's 3) is free, nor 1
        // (hart 1 is leaving it, so it may be reused): a second rollover, which keeps hart
        // 0's ASID 3.
        let s = a.switch(1, &mut ctx[1]);
        assert_eq!((s.asid, s.flush_all, a.rollovers()), (1, true, 2));
        assert_eq!(a.switch(0, &mut ctx[4]), Switch { asid: 3, flush_all: true });
    }

    /// One step: hart `.0` switches to context `.1`, or goes back to the kernel (context 12+).
    fn step() -> impl Strategy<Value = (usize, usize)> {
        (0usize..4, 0usize..16)
    }

    proptest! {
        /// A model TLB: which context's translations each ASID may hold. Running a context
        /// with an ASID whose cached entries belong to another context, with no flush since,
        /// is a stale translation.
        #[test]
        fn no_stale_translation_survives(bits in 0u32..5, seq in proptest::collection::vec(0usize..12, 1..200)) {
            let mut a = Asids::new(bits, 1);
            let mut ctx = [0u64; 12];
            let mut tlb: std::collections::HashMap<u16, usize> = Default::default();
            for &c in &seq {
                let s = a.switch(0, &mut ctx[c]);
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

        /// Several harts, each with its own model TLB, switching among 12 contexts (a context
        /// runs on one hart at a time) or back to the kernel: no ASID is ever live for two
        /// contexts at once, and no hart runs a context on an ASID whose cached entries are
        /// another context's (the old generation is flushed on every hart before it reuses
        /// an ASID).
        #[test]
        fn no_asid_live_twice_on_several_harts(
            harts in 2usize..5,
            bits in 0u32..5,
            seq in proptest::collection::vec(step(), 1..300),
        ) {
            let mut a = Asids::new(bits, harts as u32);
            let mut ctx = [0u64; 12];
            let mut tlb: Vec<std::collections::HashMap<u16, usize>> = vec![Default::default(); harts];
            let mut running: Vec<Option<(usize, u16)>> = vec![None; harts];
            for &(h, c) in &seq {
                let h = h % harts;
                if c >= 12 {
                    running[h] = None; // back to the kernel's satp
                    continue;
                }
                if running.iter().enumerate().any(|(o, r)| o != h && r.is_some_and(|(rc, _)| rc == c)) {
                    continue; // runs elsewhere
                }
                let s = a.switch(h, &mut ctx[c]);
                if s.flush_all {
                    tlb[h].clear();
                }
                if a.bits() > 0 {
                    prop_assert_ne!(s.asid, 0, "ASID 0 is the kernel's");
                    for (o, r) in running.iter().enumerate() {
                        if let Some((oc, oa)) = *r {
                            prop_assert!(o == h || oa != s.asid,
                                "hart {} runs context {} on ASID {} while hart {} gets it for context {}", o, oc, oa, h, c);
                        }
                    }
                }
                if let Some(&owner) = tlb[h].get(&s.asid) {
                    prop_assert_eq!(owner, c, "hart {}: ASID {} still caches context {}'s entries", h, s.asid, owner);
                }
                tlb[h].insert(s.asid, c);
                running[h] = Some((c, s.asid));
            }
        }
    }
}
