//! Byte-size constants, defined once for the whole project: Linux's `SZ_*`
//! (`include/linux/sizes.h`) and the granule, [`PAGE_SIZE`].
//!
//! Every crate (the library, the CLI, the benchmarks, the kernel, xtask) imports
//! these instead of writing `2 << 20` or its own `const SZ_2M`. Constants with a
//! meaning of their own (`PMD_SIZE`, a KASLR step, a window size) stay where that
//! meaning lives and are written in terms of these. Where the kernel image is
//! linked is the layout's: [`crate::layout::riscv64::KERNEL_LINK_ADDR`].
//!
//! (Parsing sizes written as text, `2M` or `0x200000`, is [`crate::size`].)

/// The size of the smallest page (the translation granule), in bytes.
pub const PAGE_SIZE: u64 = SZ_4K;

/// 4 KiB.
pub const SZ_4K: u64 = 4 << 10;
/// 8 KiB.
pub const SZ_8K: u64 = 8 << 10;
/// 16 KiB.
pub const SZ_16K: u64 = 16 << 10;
/// 64 KiB.
pub const SZ_64K: u64 = 64 << 10;
/// 256 KiB.
pub const SZ_256K: u64 = 256 << 10;
/// 1 MiB.
pub const SZ_1M: u64 = 1 << 20;
/// 2 MiB: a RISC-V megapage, an x86 large page, an arm64 4K-granule block.
pub const SZ_2M: u64 = 2 << 20;
/// 4 MiB: an Sv32 megapage.
pub const SZ_4M: u64 = 4 << 20;
/// 8 MiB.
pub const SZ_8M: u64 = 8 << 20;
/// 16 MiB.
pub const SZ_16M: u64 = 16 << 20;
/// 32 MiB.
pub const SZ_32M: u64 = 32 << 20;
/// 64 MiB.
pub const SZ_64M: u64 = 64 << 20;
/// 128 MiB.
pub const SZ_128M: u64 = 128 << 20;
/// 256 MiB.
pub const SZ_256M: u64 = 256 << 20;
/// 512 MiB.
pub const SZ_512M: u64 = 512 << 20;
/// 1 GiB: a RISC-V gigapage.
pub const SZ_1G: u64 = 1 << 30;
/// 2 GiB.
pub const SZ_2G: u64 = 2 << 30;
/// 4 GiB.
pub const SZ_4G: u64 = 4 << 30;
/// 64 GiB.
pub const SZ_64G: u64 = 64 << 30;
/// 512 GiB: a RISC-V terapage.
pub const SZ_512G: u64 = 512 << 30;
/// 1 TiB.
pub const SZ_1T: u64 = 1 << 40;
/// 256 TiB: a RISC-V petapage.
pub const SZ_256T: u64 = 256 << 40;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PageSize;

    #[test]
    fn leaf_sizes_match_the_page_size_enum() {
        let leaves = [SZ_4K, SZ_2M, SZ_1G, SZ_512G, SZ_256T];
        for (size, bytes) in PageSize::ALL.iter().zip(leaves) {
            assert_eq!(size.bytes(), bytes, "{size}");
        }
        assert_eq!(PAGE_SIZE, 4096);
        assert_eq!((SZ_8K, SZ_16K, SZ_64K, SZ_256K), (8192, 16384, 65536, 262_144));
        assert_eq!(
            (SZ_4M, SZ_8M, SZ_16M, SZ_32M, SZ_64M),
            (SZ_2M * 2, SZ_2M * 4, SZ_2M * 8, SZ_2M * 16, SZ_2M * 32)
        );
        assert_eq!((SZ_128M, SZ_256M, SZ_512M), (SZ_1M * 128, SZ_1M * 256, SZ_1M * 512));
        assert_eq!((SZ_2G, SZ_4G, SZ_64G, SZ_1T), (SZ_1G * 2, SZ_1G * 4, SZ_1G * 64, SZ_1G * 1024));
    }
}
