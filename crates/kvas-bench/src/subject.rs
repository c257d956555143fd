//! What a benchmarked implementation offers: one small trait pair that each
//! page-table library is wrapped in, so that every workload is one generic
//! function compiled once per implementation (no dynamic dispatch in the
//! timed loops).

use crate::workload::Workload;

/// A page table under test, built in the [`crate::arena`].
pub trait Subject {
    /// The handle that mutations go through. For most libraries it is just
    /// `&mut Self`; page_table_multiarch mutates through a cursor, which a
    /// caller keeps for a whole batch of operations, as a kernel would.
    type Ops<'a>: Ops
    where
        Self: 'a;

    /// A new, empty table whose frames come from the arena.
    fn new() -> Self;

    /// Whether the workload applies to this subject (a library without a
    /// range API sits out `map-range-4k`).
    fn supports(workload: Workload) -> bool {
        let _ = workload;
        true
    }

    /// Starts a batch of mutations.
    fn ops(&mut self) -> Self::Ops<'_>;

    /// The physical address `va` translates to, through the library's own
    /// translate (or walk) API.
    fn translate(&self, va: u64) -> Option<u64>;

    /// What a caller scanning neighbouring pages translates through: the
    /// library's translation cursor where it has one (kvas), else
    /// [`Plain`], which is [`Subject::translate`].
    type Translator<'a>: Translator
    where
        Self: 'a;

    /// A translator for one run of translations.
    fn translator(&self) -> Self::Translator<'_>;
}

/// Translations in a run (`translate-seq`).
pub trait Translator {
    /// The physical address `va` translates to.
    fn translate(&mut self, va: u64) -> Option<u64>;
}

/// A library without a translation cursor: each call is [`Subject::translate`].
pub struct Plain<'a, S>(pub &'a S);

impl<S: Subject> Translator for Plain<'_, S> {
    #[inline(always)]
    fn translate(&mut self, va: u64) -> Option<u64> {
        self.0.translate(va)
    }
}

/// The mutations the workloads use. Each returns whether it succeeded; the
/// workloads count failures outside the timed region.
pub trait Ops {
    /// Maps one 4 KiB page with one call.
    fn map_4k(&mut self, va: u64, pa: u64) -> bool;

    /// Maps one 2 MiB page with one call.
    fn map_2m(&mut self, va: u64, pa: u64) -> bool;

    /// Unmaps one 4 KiB page with one call.
    fn unmap_4k(&mut self, va: u64) -> bool;

    /// What a demand-paging fault handler does: translates `va` through the
    /// library's lookup API (kvas: `entry_at`, whose vacant entry maps without
    /// walking again) and, if nothing maps it, maps the 4 KiB page
    /// `va` to `pa` with one call. Returns whether the page was absent and is
    /// now mapped (a page that was there already is a failure here: every
    /// `fault-in` page is touched once).
    fn fault_in(&mut self, va: u64, pa: u64) -> bool;

    /// Maps `[va, va + len)` to `pa..` with 4 KiB leaves only, in one call to
    /// the library's range API.
    fn map_range_4k(&mut self, va: u64, pa: u64, len: u64) -> bool;

    /// Maps `[va, va + len)` to `pa..` with the largest leaves alignment
    /// allows (up to 1 GiB, the largest size every peer has).
    fn map_linear(&mut self, va: u64, pa: u64, len: u64) -> bool;
}

/// The largest page (4 KiB, 2 MiB or 1 GiB) that maps the start of
/// `[va, va + remaining)` to `pa`: the harness's own choice for a library
/// without a range API (the x86_64 crate).
pub fn best_page(va: u64, pa: u64, remaining: u64) -> u64 {
    [1u64 << 30, 1 << 21]
        .into_iter()
        .find(|&size| (va | pa) & (size - 1) == 0 && remaining >= size)
        .unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::best_page;

    #[test]
    fn best_page_needs_alignment_of_both_and_length() {
        assert_eq!(best_page(0x4000_0000, 0x8000_0000, 1 << 30), 1 << 30);
        assert_eq!(best_page(0x4000_0000, 0x8020_0000, 1 << 30), 1 << 21);
        assert_eq!(best_page(0x4000_0000, 0x8000_0000, (1 << 30) - 4096), 1 << 21);
        assert_eq!(best_page(0x4000_1000, 0x8000_1000, 1 << 30), 4096);
    }
}
