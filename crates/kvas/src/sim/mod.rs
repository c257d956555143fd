//! The host simulator: simulated physical RAM and a software MMU that translates
//! exactly as the RISC-V privileged spec says.
//!
//! - [`Ram`]: the whole 56-bit physical space, sparse and zero-filled. It is a
//!   [`crate::paging::PhysMemory`], so the engine builds tables in it as it would
//!   in a kernel.
//! - [`TrackingAllocator`]: a [`crate::paging::FrameAllocator`] over a physical
//!   range that counts live frames, can run dry on demand, and records frees of
//!   frames it does not own ([`Misuse`]).

mod frames;
mod ram;

pub use frames::{Misuse, TrackingAllocator};
pub use ram::Ram;
