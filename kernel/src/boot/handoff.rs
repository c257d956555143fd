//! The MMU-off hand-off: what boot tells kmain across the switch, as plain numbers.
//!
//! Everything made with the MMU off that holds a pointer holds a *physical* one, wrong once
//! paging is on (and the relocation back to the link address only moves the image's own
//! pointer slots). So nothing crosses the switch but this value, and its type holds only
//! `u64`s: the static it goes through is an array of `AtomicU64`, written once by boot
//! ([`publish`]) and read once by kmain ([`take`]). No pointer can be put in it without a
//! cast the reviewer sees; every address in it is physical or a plain number.

use core::sync::atomic::{AtomicU64, Ordering};

use kvas::arch::riscv::Mode;
use kvas_kernel_core::kaslr::SeedSource;

/// What boot hands to kmain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HandOff {
    /// Physical address of the device tree kmain reads (the firmware's, or `kvas.dtb=`'s).
    pub dtb_pa: u64,
    /// Physical load address of the image.
    pub load_pa: u64,
    /// `instret` at `_start`.
    pub instret_at_entry: u64,
    /// Physical address of the early tables' root.
    pub early_root: u64,
    /// Levels of the mode the probe chose (3, 4 or 5).
    pub levels: u64,
    /// Modes tried first and rejected: (levels, what `satp` read back); levels 0 = none.
    pub rejected: [(u64, u64); 2],
    /// Physical address of the `sifive,test0` finisher (0: none).
    pub finisher_pa: u64,
    /// KASLR's offset of the image from `KERNEL_LINK_ADDR` (boot/kaslr.rs).
    pub kaslr_offset: u64,
    /// Where KASLR's seed came from ([`source_code`]).
    pub seed_source: u64,
    /// Instructions one relocation pass retired (`_start`'s; the pass before the switch runs
    /// the same loop over the same table).
    pub reloc_pass: u64,
}

/// Words in the static.
const WORDS: usize = 13;

impl HandOff {
    fn to_words(self) -> [u64; WORDS] {
        let [(l0, b0), (l1, b1)] = self.rejected;
        [
            self.dtb_pa,
            self.load_pa,
            self.instret_at_entry,
            self.early_root,
            self.levels,
            l0,
            b0,
            l1,
            b1,
            self.finisher_pa,
            self.kaslr_offset,
            self.seed_source,
            self.reloc_pass,
        ]
    }

    fn from_words(w: [u64; WORDS]) -> Self {
        HandOff {
            dtb_pa: w[0],
            load_pa: w[1],
            instret_at_entry: w[2],
            early_root: w[3],
            levels: w[4],
            rejected: [(w[5], w[6]), (w[7], w[8])],
            finisher_pa: w[9],
            kaslr_offset: w[10],
            seed_source: w[11],
            reloc_pass: w[12],
        }
    }

    /// The mode paging runs in.
    pub fn mode(&self) -> Mode {
        mode_of_levels(self.levels)
    }

    /// Where KASLR's seed came from.
    pub fn seed_source(&self) -> SeedSource {
        match self.seed_source {
            1 => SeedSource::Zkr,
            2 => SeedSource::KaslrSeed,
            3 => SeedSource::RngSeed,
            _ => SeedSource::None,
        }
    }

    /// The image's virtual base: `KERNEL_LINK_ADDR` + the KASLR offset.
    pub fn virt_base(&self) -> u64 {
        super::KERNEL_LINK_ADDR + self.kaslr_offset
    }

    /// The modes rejected by the probe, with what `satp` read back.
    pub fn rejected(&self) -> impl Iterator<Item = (Mode, u64)> + '_ {
        self.rejected.iter().filter(|(l, _)| *l != 0).map(|&(l, back)| (mode_of_levels(l), back))
    }
}

/// A seed source as a number, for the hand-off.
pub const fn source_code(s: SeedSource) -> u64 {
    match s {
        SeedSource::None => 0,
        SeedSource::Zkr => 1,
        SeedSource::KaslrSeed => 2,
        SeedSource::RngSeed => 3,
    }
}

/// The Sv mode with `levels` levels (the probe only ever chooses 3, 4 or 5; anything else
/// is a corrupt hand-off, and fatal).
pub fn mode_of_levels(levels: u64) -> Mode {
    match levels {
        3 => Mode::Sv39,
        4 => Mode::Sv48,
        5 => Mode::Sv57,
        _ => crate::power::fatal(format_args!("the hand-off names a {levels}-level mode")),
    }
}

static HANDOFF: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];

/// Stores the hand-off (boot, MMU off, right before the switch).
pub fn publish(h: HandOff) {
    for (slot, w) in HANDOFF.iter().zip(h.to_words()) {
        slot.store(w, Ordering::Relaxed);
    }
}

/// Reads the hand-off (kmain, once).
pub fn take() -> HandOff {
    HandOff::from_words(core::array::from_fn(|i| HANDOFF[i].load(Ordering::Relaxed)))
}
