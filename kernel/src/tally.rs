//! One line per test and the count, for every test list the kernels run (riscv64's and
//! riscv32's self-tests, the user tests): `KIND NAME ... ok` or `KIND NAME ... FAILED: WHY`
//! (the serial contract's format, shared/DESIGN.md).

use core::fmt::Display;

use crate::kprintln;

/// Prints `result`'s line for test `name` of `kind` (`selftest`, `usertest`) and counts it in
/// `tally` (passed, failed).
pub fn record(kind: &str, name: &str, result: Result<(), impl Display>, tally: &mut (u32, u32)) {
    match result {
        Ok(()) => {
            tally.0 += 1;
            kprintln!("{kind} {name} ... ok");
        }
        Err(why) => {
            tally.1 += 1;
            kprintln!("{kind} {name} ... FAILED: {why}");
        }
    }
}
