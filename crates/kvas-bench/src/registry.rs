//! The implementations the benchmark runs, by contract name.

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
        Impl::of::<Ptm<3>>("ptm-sv39"),
        Impl::of::<Ptm<4>>("ptm-sv48"),
        Impl::of::<X86>("x86_64-4level"),
        Impl::of::<Aarch64<3, false>>("aarch64-3level"),
        Impl::of::<Aarch64<4, false>>("aarch64-4level"),
        Impl::of::<Aarch64<3, true>>("aarch64-3level-range"),
        Impl::of::<Aarch64<4, true>>("aarch64-4level-range"),
    ]
}
