//! The implementations the benchmark runs, by contract name.

use crate::engine::{CompileTime, Kvas, RunTime};
use crate::engine_other::{Arm64RunTime, X86RunTime};
use crate::peers::aarch64::Aarch64;
use crate::peers::ptm::Ptm;
use crate::peers::x86::X86;
use crate::subject::Subject;
use crate::workload::{self, Inputs, Sample, Workload};

/// One implementation: its contract name and its workloads, compiled for it.
#[derive(Clone, Copy)]
pub struct Impl {
    /// The name in `impl=NAME`.
    pub name: &'static str,
    /// Whether the implementation runs a workload.
    pub supports: fn(Workload) -> bool,
    /// One timed sample of a workload.
    pub measure: fn(Workload, &Inputs) -> Result<Sample, String>,
    /// The untimed correctness check.
    pub verify: fn() -> Result<(), String>,
}

impl Impl {
    /// The entry for subject type `S`.
    pub fn of<S: Subject>(name: &'static str) -> Self {
        Impl { name, supports: S::supports, measure: workload::measure::<S>, verify: workload::verify::<S> }
    }

    /// Whether this is kvas itself rather than a peer.
    pub fn is_kvas(&self) -> bool {
        self.name.starts_with("kvas-")
    }
}

/// Every implementation, kvas first.
pub fn all() -> Vec<Impl> {
    vec![
        Impl::of::<Kvas<RunTime<3>>>("kvas-sv39"),
        Impl::of::<Kvas<RunTime<4>>>("kvas-sv48"),
        Impl::of::<Kvas<RunTime<5>>>("kvas-sv57"),
        Impl::of::<Kvas<CompileTime<4>>>("kvas-sv48-fixed"),
        Impl::of::<Kvas<X86RunTime<4>>>("kvas-x86-4level"),
        Impl::of::<Kvas<X86RunTime<5>>>("kvas-x86-5level"),
        Impl::of::<Kvas<Arm64RunTime<3>>>("kvas-arm64-3level"),
        Impl::of::<Kvas<Arm64RunTime<4>>>("kvas-arm64-4level"),
        Impl::of::<Ptm<3>>("ptm-sv39"),
        Impl::of::<Ptm<4>>("ptm-sv48"),
        Impl::of::<X86>("x86_64-4level"),
        Impl::of::<Aarch64<3, false>>("aarch64-3level"),
        Impl::of::<Aarch64<4, false>>("aarch64-4level"),
        Impl::of::<Aarch64<3, true>>("aarch64-3level-range"),
        Impl::of::<Aarch64<4, true>>("aarch64-4level-range"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arena;
    use crate::engine::Kvas;
    use crate::subject::{Ops, Plain};

    #[test]
    fn names_are_unique_and_kvas_is_recognised() {
        let impls = all();
        let mut names: Vec<_> = impls.iter().map(|imp| imp.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), impls.len());
        assert_eq!(impls.iter().filter(|imp| imp.is_kvas()).count(), 8);
    }

    #[test]
    fn every_implementation_maps_what_it_is_asked() {
        arena::init(arena::DEFAULT_BYTES);
        for imp in all() {
            assert_eq!((imp.verify)(), Ok(()), "{}", imp.name);
        }
    }

    #[test]
    fn every_implementation_measures_the_short_workloads() {
        arena::init(arena::DEFAULT_BYTES);
        let inputs = Inputs::new();
        for imp in all() {
            for w in [Workload::Map2m, Workload::MapLinear64g].into_iter().filter(|&w| (imp.supports)(w)) {
                let sample = (imp.measure)(w, &inputs).unwrap_or_else(|e| panic!("{}: {e}", imp.name));
                assert_eq!(sample.ops + sample.dropped, w.ops() * u64::from(w.rounds()));
                assert_eq!(sample.ops > 0, sample.elapsed.as_nanos() > 0);
            }
        }
    }

    /// Cheats on `map-range-4k` by mapping 1 GiB leaves: fast, and wrong.
    struct BigLeaves(Kvas<RunTime<3>>);

    impl Subject for BigLeaves {
        type Ops<'a> = &'a mut BigLeaves;
        fn new() -> Self {
            BigLeaves(Kvas::new())
        }
        fn supports(workload: Workload) -> bool {
            workload == Workload::MapRange4k
        }
        fn ops(&mut self) -> &mut BigLeaves {
            self
        }
        fn translate(&self, va: u64) -> Option<u64> {
            self.0.translate(va)
        }
        type Translator<'a> = Plain<'a, Self>;
        fn translator(&self) -> Plain<'_, Self> {
            Plain(self)
        }
    }

    impl Ops for &mut BigLeaves {
        fn map_4k(&mut self, va: u64, pa: u64) -> bool {
            self.0.ops().map_4k(va, pa)
        }
        fn map_2m(&mut self, va: u64, pa: u64) -> bool {
            self.0.ops().map_2m(va, pa)
        }
        fn unmap_4k(&mut self, va: u64) -> bool {
            self.0.ops().unmap_4k(va)
        }
        fn fault_in(&mut self, va: u64, pa: u64) -> bool {
            self.0.ops().fault_in(va, pa)
        }
        fn map_range_4k(&mut self, va: u64, pa: u64, len: u64) -> bool {
            self.0.ops().map_linear(va, pa, len)
        }
        fn map_linear(&mut self, va: u64, pa: u64, len: u64) -> bool {
            self.0.ops().map_linear(va, pa, len)
        }
    }

    /// Loses the page offset in translations.
    struct NoOffset(Kvas<RunTime<3>>);

    impl Subject for NoOffset {
        type Ops<'a> = &'a mut Kvas<RunTime<3>>;
        fn new() -> Self {
            NoOffset(Kvas::new())
        }
        fn ops(&mut self) -> &mut Kvas<RunTime<3>> {
            self.0.ops()
        }
        fn translate(&self, va: u64) -> Option<u64> {
            self.0.translate(va).map(|pa| pa & !0xfff)
        }
        type Translator<'a> = Plain<'a, Self>;
        fn translator(&self) -> Plain<'_, Self> {
            Plain(self)
        }
    }

    #[test]
    fn verification_catches_wrong_leaves_and_wrong_translations() {
        arena::init(arena::DEFAULT_BYTES);
        let big = workload::verify::<BigLeaves>().unwrap_err();
        assert!(big.contains("took only"), "{big}");
        let inputs = Inputs::new();
        let sample = workload::measure::<BigLeaves>(Workload::MapRange4k, &inputs).unwrap_err();
        assert!(sample.contains("took only"), "{sample}");

        let offset = workload::verify::<NoOffset>().unwrap_err();
        assert!(offset.contains("translates to"), "{offset}");
        let seq = workload::measure::<NoOffset>(Workload::TranslateSeq, &inputs).unwrap_err();
        assert!(seq.contains("summed to"), "{seq}");
    }
}
