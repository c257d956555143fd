//! The peer libraries, each wrapped as a [`crate::subject::Subject`].

pub mod aarch64;
pub mod ptm;
pub mod x86;
