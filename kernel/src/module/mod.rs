//! Loadable modules: the loader (placing, mapping, protecting and calling a module; its ELF
//! reading and relocation are `kvas_kernel_core::module`'s) and the kernel's exports.

pub mod exports;
pub mod loader;
