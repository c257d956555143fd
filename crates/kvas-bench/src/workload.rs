//! The workloads of the benchmark contract, each one generic function over a
//! [`Subject`], timed with everything but the measured calls (building an
//! empty table, mapping the pages a translate or unmap needs, checking the
//! result, freeing) outside the clock.

use std::hint::black_box;
use std::time::Duration;

use crate::arena;
use crate::clock::Stopwatch;
use crate::subject::{Ops, Subject, Translator};

/// 4 KiB pages in the 1 GiB that the per-page workloads map.
pub const PAGES: u64 = 262_144;
/// A 4 KiB page.
pub use kvas::sizes::PAGE_SIZE as PAGE;
/// A 1 GiB page.
pub use kvas::sizes::SZ_1G as PAGE_1G;
/// A 2 MiB page.
pub use kvas::sizes::SZ_2M as PAGE_2M;
/// Where the per-page workloads map: a 1 GiB-aligned kernel address inside
/// the upper half of every mode here (Sv39 and aarch64's 39-bit upper range
/// start at `0xffff_ffc0_0000_0000` and `0xffff_ff80_0000_0000`).
pub const VA_BASE: u64 = 0xffff_ffd8_0000_0000;
/// The physical address the first page maps to (made up: never touched).
pub const PA_BASE: u64 = 0x8000_0000;
/// Translations look up this byte offset inside each page, so that an
/// implementation that drops the page offset gets the wrong sum.
pub const TRANSLATE_OFFSET: u64 = 0x123;
/// `map-linear-64g`: 64 GiB of RAM at 0x8000_0000, the first 2 MiB held by
/// firmware (as OpenSBI holds them on QEMU `virt`), mapped at Linux's Sv39
/// `PAGE_OFFSET`: 511 leaves of 2 MiB up to the first 1 GiB boundary, then 63 of 1 GiB.
pub const LINEAR_PA: u64 = 0x8000_0000 + PAGE_2M;
/// Virtual start of the linear map (`PAGE_OFFSET` + 2 MiB).
pub const LINEAR_VA: u64 = 0xffff_ffd6_0000_0000 + PAGE_2M;
/// Length of the linear map.
pub const LINEAR_LEN: u64 = (64 << 30) - PAGE_2M;
/// Seed of the `translate-rand` and `fault-in` permutation.
pub const SEED: u64 = 0x6b76_6173_6265_6e63;

/// One workload of the benchmark contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Workload {
    /// 262144 calls, each mapping one 4 KiB page of a 1 GiB kernel range.
    Map4k,
    /// 262144 translations of the pages `map-4k` mapped, in address order,
    /// as a scan of neighbouring pages makes them: through the library's
    /// translation cursor where it has one ([`Subject::translator`]).
    TranslateSeq,
    /// The same translations in a fixed-seed random order, each independent
    /// of the others: through the library's plain translate.
    TranslateRand,
    /// 262144 calls, each unmapping one page `map-4k` mapped, in order.
    Unmap4k,
    /// 512 calls, each mapping one 2 MiB page of the same 1 GiB.
    Map2m,
    /// One range call mapping the whole 1 GiB with 4 KiB leaves
    /// (`ns_per_op` is per 4 KiB page).
    MapRange4k,
    /// One range call mapping the 64 GiB linear map with the best page sizes
    /// (`ns_per_op` is per whole linear map).
    MapLinear64g,
    /// Demand paging: the 262144 pages of the 1 GiB touched in the
    /// `translate-rand` order, each one translated, found absent and mapped
    /// with one 4 KiB page, on a table that starts empty.
    FaultIn,
}

impl Workload {
    /// Every workload, in the order of the report.
    pub const ALL: [Workload; 8] = [
        Workload::Map4k,
        Workload::TranslateSeq,
        Workload::TranslateRand,
        Workload::Unmap4k,
        Workload::Map2m,
        Workload::MapRange4k,
        Workload::MapLinear64g,
        Workload::FaultIn,
    ];

    /// The contract name (`map-4k` ...).
    pub const fn name(self) -> &'static str {
        match self {
            Workload::Map4k => "map-4k",
            Workload::TranslateSeq => "translate-seq",
            Workload::TranslateRand => "translate-rand",
            Workload::Unmap4k => "unmap-4k",
            Workload::Map2m => "map-2m",
            Workload::MapRange4k => "map-range-4k",
            Workload::MapLinear64g => "map-linear-64g",
            Workload::FaultIn => "fault-in",
        }
    }

    /// The workload called `name`.
    pub fn from_name(name: &str) -> Option<Workload> {
        Self::ALL.into_iter().find(|w| w.name() == name)
    }

    /// Whether the workload goes through a range API (one call for a whole
    /// range) rather than one call per page.
    pub const fn is_range(self) -> bool {
        matches!(self, Workload::MapRange4k | Workload::MapLinear64g)
    }

    /// The operations one round counts (what `ns_per_op` divides by).
    pub const fn ops(self) -> u64 {
        match self {
            Workload::Map2m => PAGES / 512,
            Workload::MapLinear64g => 1,
            _ => PAGES,
        }
    }

    /// Rounds per sample: the short workloads repeat (each round on a fresh
    /// table) so that one sample lasts long enough to time well.
    pub const fn rounds(self) -> u32 {
        match self {
            Workload::Map2m => 32,
            Workload::MapLinear64g => 64,
            _ => 1,
        }
    }
}

/// Inputs shared by every run: the fixed-seed permutation of page numbers.
pub struct Inputs {
    order: Vec<u32>,
}

impl Inputs {
    /// Builds the permutation (Fisher-Yates over xorshift64*, seed [`SEED`]).
    pub fn new() -> Self {
        let mut order: Vec<u32> = (0..PAGES as u32).collect();
        let mut state = SEED;
        for i in (1..order.len()).rev() {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
            order.swap(i, (r % (i as u64 + 1)) as usize);
        }
        Self { order }
    }

    /// Page numbers in random order.
    pub fn order(&self) -> &[u32] {
        &self.order
    }
}

impl Default for Inputs {
    fn default() -> Self {
        Self::new()
    }
}

/// The time `rounds` rounds of a workload took inside the measured calls,
/// leaving out stretches during which the thread was preempted
/// ([`crate::clock`]).
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Time of the kept stretches.
    pub elapsed: Duration,
    /// Operations in the kept stretches.
    pub ops: u64,
    /// Operations whose stretch was left out.
    pub dropped: u64,
}

impl Sample {
    /// Nanoseconds per operation (NaN if every stretch was left out).
    pub fn ns_per_op(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.ops as f64
    }

    /// The time all operations would have taken at the kept stretches' rate.
    pub fn elapsed_all(&self) -> Duration {
        if self.ops == 0 {
            return Duration::ZERO;
        }
        self.elapsed.mul_f64((self.ops + self.dropped) as f64 / self.ops as f64)
    }
}

/// Operations per timed stretch of the per-page workloads: short enough that
/// most stretches run between two preemptions, long enough (tens of
/// microseconds) that reading the clock does not matter; a multiple of 512,
/// so each stretch allocates the same number of leaf tables.
pub const STRETCH: u64 = 8192;

/// The sum of physical addresses a full translate pass must produce.
fn expected_translate_sum() -> u64 {
    (0..PAGES).fold(0u64, |sum, i| sum.wrapping_add(PA_BASE + i * PAGE + TRANSLATE_OFFSET))
}

/// Maps the 1 GiB page by page, untimed (the setup of the translate and unmap
/// workloads). It runs the very code `map-4k` times, so that instruction
/// counts of those workloads minus `map-4k`'s are exactly theirs
/// (`scripts/instructions.sh`).
fn map_pages<S: Subject>(subject: &mut S) -> u64 {
    map_pages_timed(subject, &mut Stopwatch::default())
}

fn check(what: &str, failed: u64, of: u64) -> Result<(), String> {
    if failed == 0 {
        Ok(())
    } else {
        Err(format!("{failed} of {of} {what} calls failed"))
    }
}

/// Checks that a translate pass saw every page at the right address.
fn check_sum(sum: u64, missing: u64) -> Result<(), String> {
    if missing != 0 {
        return Err(format!("{missing} of {PAGES} mapped pages did not translate"));
    }
    if sum != expected_translate_sum() {
        return Err(format!("translations summed to {sum:#x}, expected {:#x}", expected_translate_sum()));
    }
    Ok(())
}

/// Checks that a 1 GiB map really used 4 KiB leaves (512 leaf tables at least).
fn check_leaf_tables() -> Result<(), String> {
    let tables = arena::in_use();
    if tables < PAGES / 512 + 1 {
        return Err(format!("1 GiB of 4 KiB pages took only {tables} table frames"));
    }
    Ok(())
}

/// Runs one sample of `workload` on fresh tables of type `S`. Errors say what
/// went wrong: a failed call, a wrong translation, tables of the wrong shape.
pub fn measure<S: Subject>(workload: Workload, inputs: &Inputs) -> Result<Sample, String> {
    let mut watch = Stopwatch::default();
    for _ in 0..workload.rounds() {
        arena::reset();
        let mut subject = S::new();
        round(&mut subject, workload, inputs, &mut watch)?;
        drop(subject);
    }
    Ok(Sample { elapsed: watch.elapsed, ops: watch.ops, dropped: watch.dropped })
}

/// Maps the 1 GiB page by page, timing stretches of [`STRETCH`] calls.
fn map_pages_timed<S: Subject>(subject: &mut S, watch: &mut Stopwatch) -> u64 {
    let mut ops = subject.ops();
    let mut failed = 0;
    for first in (0..PAGES).step_by(STRETCH as usize) {
        failed += watch.time(STRETCH, || {
            let mut failed = 0;
            for i in first..first + STRETCH {
                failed += !ops.map_4k(VA_BASE + i * PAGE, PA_BASE + i * PAGE) as u64;
            }
            failed
        });
    }
    failed
}

/// Translates `VA_BASE + page * PAGE + TRANSLATE_OFFSET` for each page of
/// each stretch (of [`STRETCH`] pages), timing each stretch; returns the sum of
/// the physical addresses and the count of pages that did not translate.
/// Through the subject's [`Translator`] (one per stretch) if `run`, else
/// through [`Subject::translate`].
fn translate_timed<S: Subject, I: Iterator<Item = u64>>(
    subject: &S,
    stretches: impl Iterator<Item = I>,
    run: bool,
    watch: &mut Stopwatch,
) -> (u64, u64) {
    let (mut sum, mut missing) = (0u64, 0u64);
    for stretch in stretches {
        let (s, m) = watch.time(STRETCH, || {
            let (mut sum, mut missing) = (0u64, 0u64);
            let mut translator = subject.translator();
            for page in stretch {
                let va = VA_BASE + page * PAGE + TRANSLATE_OFFSET;
                let pa = if run { translator.translate(va) } else { subject.translate(va) };
                match pa {
                    Some(pa) => sum = sum.wrapping_add(pa),
                    None => missing += 1,
                }
            }
            (sum, missing)
        });
        sum = sum.wrapping_add(s);
        missing += m;
    }
    (sum, missing)
}

fn round<S: Subject>(
    subject: &mut S,
    workload: Workload,
    inputs: &Inputs,
    watch: &mut Stopwatch,
) -> Result<(), String> {
    match workload {
        Workload::Map4k => {
            let failed = map_pages_timed(subject, watch);
            check("map", failed, PAGES)?;
            check_leaf_tables()?;
        }
        Workload::TranslateSeq | Workload::TranslateRand => {
            check("map", map_pages(subject), PAGES)?;
            let (sum, missing) = if workload == Workload::TranslateSeq {
                let stretches = (0..PAGES).step_by(STRETCH as usize).map(|first| first..first + STRETCH);
                translate_timed(subject, stretches, true, watch)
            } else {
                let stretches = inputs.order().chunks(STRETCH as usize);
                translate_timed(subject, stretches.map(|c| c.iter().map(|&i| u64::from(i))), false, watch)
            };
            check_sum(black_box(sum), missing)?;
        }
        Workload::Unmap4k => {
            check("map", map_pages(subject), PAGES)?;
            let mut failed = 0;
            {
                let mut ops = subject.ops();
                for first in (0..PAGES).step_by(STRETCH as usize) {
                    failed += watch.time(STRETCH, || {
                        let mut failed = 0;
                        for i in first..first + STRETCH {
                            failed += !ops.unmap_4k(VA_BASE + i * PAGE) as u64;
                        }
                        failed
                    });
                }
            }
            check("unmap", failed, PAGES)?;
            if let Some(pa) = subject.translate(VA_BASE + 77 * PAGE) {
                return Err(format!("an unmapped page still translates to {pa:#x}"));
            }
        }
        Workload::FaultIn => {
            let failed = {
                let mut ops = subject.ops();
                let mut failed = 0;
                for stretch in inputs.order().chunks(STRETCH as usize) {
                    failed += watch.time(STRETCH, || {
                        let mut failed = 0;
                        for &page in stretch {
                            let i = u64::from(page);
                            failed += !ops.fault_in(VA_BASE + i * PAGE, PA_BASE + i * PAGE) as u64;
                        }
                        failed
                    });
                }
                failed
            };
            check("fault-in", failed, PAGES)?;
            check_leaf_tables()?;
            let stretches = (0..PAGES).step_by(STRETCH as usize).map(|first| first..first + STRETCH);
            let (sum, missing) = translate_timed(subject, stretches, true, &mut Stopwatch::default());
            check_sum(black_box(sum), missing)?;
        }
        Workload::Map2m => {
            let n = PAGES / 512;
            let failed = {
                let mut ops = subject.ops();
                watch.time(n, || {
                    let mut failed = 0;
                    for i in 0..n {
                        failed += !ops.map_2m(VA_BASE + i * PAGE_2M, PA_BASE + i * PAGE_2M) as u64;
                    }
                    failed
                })
            };
            check("map", failed, n)?;
            if arena::in_use() > 4 {
                return Err(format!("1 GiB of 2 MiB pages took {} table frames", arena::in_use()));
            }
        }
        Workload::MapRange4k => {
            let mut ops = subject.ops();
            let ok = watch.time(PAGES, || ops.map_range_4k(VA_BASE, PA_BASE, PAGES * PAGE));
            drop(ops);
            check("range map", !ok as u64, 1)?;
            check_leaf_tables()?;
        }
        Workload::MapLinear64g => {
            let mut ops = subject.ops();
            let ok = watch.time(1, || ops.map_linear(LINEAR_VA, LINEAR_PA, LINEAR_LEN));
            drop(ops);
            check("linear map", !ok as u64, 1)?;
            if arena::in_use() > 8 {
                return Err(format!("the 64 GiB linear map took {} table frames", arena::in_use()));
            }
        }
    }
    Ok(())
}

/// Checks, once and outside any timing, that `S` maps what each of its
/// workloads asks for: every page translates to the right address, unmapped
/// pages do not, and the tables have the shape the page size implies.
pub fn verify<S: Subject>() -> Result<(), String> {
    let expect = |subject: &S, va: u64, pa: Option<u64>| -> Result<(), String> {
        let got = subject.translate(va);
        if got == pa {
            Ok(())
        } else {
            Err(format!("{va:#x} translates to {got:x?}, expected {pa:x?}"))
        }
    };
    let check_all_4k = |subject: &S| -> Result<(), String> {
        for i in 0..PAGES {
            expect(subject, VA_BASE + i * PAGE + (i % PAGE), Some(PA_BASE + i * PAGE + (i % PAGE)))?;
        }
        expect(subject, VA_BASE - PAGE, None)?;
        expect(subject, VA_BASE + PAGES * PAGE, None)
    };

    if S::supports(Workload::Map4k) {
        arena::reset();
        let mut subject = S::new();
        check("map", map_pages(&mut subject), PAGES)?;
        check_leaf_tables()?;
        check_all_4k(&subject)?;
        if S::supports(Workload::Unmap4k) {
            let mut failed = 0;
            {
                let mut ops = subject.ops();
                for i in (0..PAGES).step_by(2) {
                    failed += !ops.unmap_4k(VA_BASE + i * PAGE) as u64;
                }
            }
            check("unmap", failed, PAGES / 2)?;
            for i in 0..PAGES {
                let pa = (i % 2 == 1).then_some(PA_BASE + i * PAGE + 8);
                expect(&subject, VA_BASE + i * PAGE + 8, pa)?;
            }
        }
    }
    if S::supports(Workload::FaultIn) {
        arena::reset();
        let mut subject = S::new();
        let mut failed = 0;
        {
            let mut ops = subject.ops();
            for i in (0..PAGES).rev() {
                failed += !ops.fault_in(VA_BASE + i * PAGE, PA_BASE + i * PAGE) as u64;
            }
            // A page that is there already is no fault to handle.
            if ops.fault_in(VA_BASE, PA_BASE + PAGE) {
                return Err("fault-in mapped a page that was mapped already".into());
            }
        }
        check("fault-in", failed, PAGES)?;
        check_leaf_tables()?;
        check_all_4k(&subject)?;
    }
    if S::supports(Workload::Map2m) {
        arena::reset();
        let mut subject = S::new();
        let mut failed = 0;
        {
            let mut ops = subject.ops();
            for i in 0..PAGES / 512 {
                failed += !ops.map_2m(VA_BASE + i * PAGE_2M, PA_BASE + i * PAGE_2M) as u64;
            }
        }
        check("map", failed, PAGES / 512)?;
        for i in 0..PAGES / 512 {
            let off = i * 0x1_2345 % PAGE_2M;
            expect(&subject, VA_BASE + i * PAGE_2M + off, Some(PA_BASE + i * PAGE_2M + off))?;
        }
        expect(&subject, VA_BASE + PAGES * PAGE, None)?;
        if arena::in_use() > 4 {
            return Err(format!("1 GiB of 2 MiB pages took {} table frames", arena::in_use()));
        }
    }
    if S::supports(Workload::MapRange4k) {
        arena::reset();
        let mut subject = S::new();
        let ok = subject.ops().map_range_4k(VA_BASE, PA_BASE, PAGES * PAGE);
        check("range map", !ok as u64, 1)?;
        check_leaf_tables()?;
        check_all_4k(&subject)?;
    }
    if S::supports(Workload::MapLinear64g) {
        arena::reset();
        let mut subject = S::new();
        let ok = subject.ops().map_linear(LINEAR_VA, LINEAR_PA, LINEAR_LEN);
        check("linear map", !ok as u64, 1)?;
        let mut offsets: Vec<u64> = (0..64).map(|g| (g << 30) + 0x345_6789).collect();
        offsets.extend([0, PAGE_2M - 1, (1 << 30) - PAGE_2M, LINEAR_LEN - 1]);
        for off in offsets.into_iter().filter(|&off| off < LINEAR_LEN) {
            expect(&subject, LINEAR_VA + off, Some(LINEAR_PA + off))?;
        }
        expect(&subject, LINEAR_VA - PAGE, None)?;
        expect(&subject, LINEAR_VA + LINEAR_LEN, None)?;
        if arena::in_use() > 8 {
            return Err(format!("the 64 GiB linear map took {} table frames", arena::in_use()));
        }
    }
    arena::reset();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_is_fixed_and_complete() {
        let a = Inputs::new();
        let b = Inputs::new();
        assert_eq!(a.order(), b.order());
        let mut seen = vec![false; PAGES as usize];
        a.order().iter().for_each(|&i| seen[i as usize] = true);
        assert!(seen.iter().all(|&s| s));
        // Not the identity: the random walk must leave address order.
        let in_place = a.order().iter().enumerate().filter(|&(i, &p)| i == p as usize).count();
        assert!(in_place < 16, "{in_place} pages kept their place");
    }

    #[test]
    fn names_round_trip() {
        for w in Workload::ALL {
            assert_eq!(Workload::from_name(w.name()), Some(w));
        }
        assert_eq!(Workload::from_name("map-3k"), None);
    }

    #[test]
    fn linear_map_uses_the_leaves_the_docs_promise() {
        // 511 x 2 MiB up to the first 1 GiB boundary, then 63 x 1 GiB; virtual and
        // physical addresses agree modulo 1 GiB, so the big leaves are possible.
        let head = LINEAR_PA.div_ceil(PAGE_1G) * PAGE_1G - LINEAR_PA;
        assert_eq!(head / PAGE_2M, 511);
        assert_eq!((LINEAR_LEN - head) / PAGE_1G, 63);
        assert_eq!((LINEAR_LEN - head) % PAGE_1G, 0);
        assert_eq!((LINEAR_VA - LINEAR_PA) % PAGE_1G, 0);
    }
}
