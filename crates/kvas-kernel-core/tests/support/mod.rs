//! Helpers shared by the host tests.
pub mod blob;
