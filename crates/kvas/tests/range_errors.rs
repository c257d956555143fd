//! Range constructors name the fault a range has, with its numbers: for any
//! start and size, the error (or the range) is what an independent
//! classification says it must be (issue 10, item 13: an empty range used to
//! be reported as one that "wraps").

use kvas::phys::{PhysRange, PHYS_END};
use kvas::vm::RangeAllocator;
use kvas::VirtRange;
use kvas::{Error, VirtAddr, PAGE_SIZE};
use proptest::prelude::*;

/// Values that hit the edges: 0, page multiples, the top of the space, and
/// anything at all.
fn value() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        (0u64..16).prop_map(|p| p * PAGE_SIZE),
        (0u64..16).prop_map(|p| u64::MAX - p * PAGE_SIZE),
        (0u64..16).prop_map(|p| (u64::MAX - p * PAGE_SIZE) & !(PAGE_SIZE - 1)),
        (0u64..16).prop_map(|p| PHYS_END - p * PAGE_SIZE),
        any::<u64>(),
        any::<u64>().prop_map(|v| v & !(PAGE_SIZE - 1)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn virt_range_errors_name_the_fault(start in value(), size in value()) {
        let got = VirtRange::new_pages(VirtAddr::new(start), size);
        let wraps = u128::from(start) + u128::from(size) > 1u128 << 64;
        // A byte range: refused only when empty or wrapping.
        let bytes = if size == 0 {
            Err(Error::BadVirtRange { start, size, reason: "it is empty" })
        } else if wraps {
            Err(Error::BadVirtRange { start, size, reason: "it wraps past 2^64" })
        } else {
            Ok((start, size))
        };
        let as_pair = |r: VirtRange| (r.start().as_u64(), r.size());
        prop_assert_eq!(VirtRange::new(VirtAddr::new(start), size).map(as_pair), bytes);
        // Whole pages: the alignment is checked first.
        let want = if start % PAGE_SIZE != 0 {
            Err(Error::Misaligned { what: "range start", value: start, align: PAGE_SIZE })
        } else if size % PAGE_SIZE != 0 {
            Err(Error::Misaligned { what: "range size", value: size, align: PAGE_SIZE })
        } else {
            bytes
        };
        prop_assert_eq!(got.map(as_pair), want);
        if let Err(e) = got {
            let text = e.to_string();
            prop_assert!(!(size == 0 && text.contains("wraps")), "{}", text);
        }
    }

    #[test]
    fn phys_range_errors_name_the_fault(start in value(), size in value()) {
        let end = u128::from(start) + u128::from(size);
        let refused = |reason| Err(Error::BadPhysRange { start, size, reason });
        let want = if size == 0 {
            refused("it is empty")
        } else if end > 1u128 << 64 {
            refused("it wraps past 2^64")
        } else if end > u128::from(PHYS_END) {
            refused("it ends above the 56-bit physical address space")
        } else {
            Ok((start, start + size))
        };
        let got = PhysRange::new(start, size).map(|r| (r.start_u64(), r.end()));
        prop_assert_eq!(got, want);
    }

    #[test]
    fn phys_bounds_errors_name_the_fault(start in value(), end in value()) {
        let got = PhysRange::from_bounds(start, end).map(|r| (r.start_u64(), r.end()));
        let want = if end < start {
            Err(Error::RangeReversed { what: "physical range", start, end })
        } else if end == start {
            Err(Error::BadPhysRange { start, size: 0, reason: "it is empty" })
        } else if end > PHYS_END {
            Err(Error::BadPhysRange {
                start,
                size: end - start,
                reason: "it ends above the 56-bit physical address space",
            })
        } else {
            Ok((start, end))
        };
        prop_assert_eq!(got, want);
    }

    /// Windows: `end == 0` stands for 2^64; all 2^64 bytes are refused, since a
    /// range's size could not say how many.
    #[test]
    fn window_errors_name_the_fault(start in value(), end in value()) {
        let got = RangeAllocator::<4>::new("w", VirtAddr::new(start), VirtAddr::new(end)).map(|a| a.window());
        let top = if end == 0 { 1u128 << 64 } else { u128::from(end) };
        let invalid = |reason| Err(Error::VaWindowInvalid { start, end, reason });
        let want = if start % PAGE_SIZE != 0 {
            Err(Error::Misaligned { what: "window start", value: start, align: PAGE_SIZE })
        } else if end % PAGE_SIZE != 0 {
            Err(Error::Misaligned { what: "window end", value: end, align: PAGE_SIZE })
        } else if top == u128::from(start) {
            invalid("the window is empty")
        } else if top < u128::from(start) {
            invalid("the window ends before it starts")
        } else if start == 0 && end == 0 {
            invalid("the window is the whole 64-bit address space, whose size does not fit in 64 bits")
        } else {
            Ok((start, (top - u128::from(start)) as u64))
        };
        prop_assert_eq!(got.map(|w| (w.start().as_u64(), w.size())), want);
    }
}
