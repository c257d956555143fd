//! User space's pure logic: Linux's system-call ABI ([`syscall`]), the ASID allocator
//! ([`asid`]), a process's areas and where `mmap`/`brk` place them ([`vmas`]), the user
//! frame pool ([`frames`]), user ELF programs ([`elf`]) and the initrd's cpio archive
//! ([`cpio`]), and the pinned uaccess of 4G/4G ([`pin`]). The kernel's kernel/src/user/ adds
//! processes, traps and uaccess.

pub mod asid;
pub mod cpio;
pub mod elf;
pub mod frames;
pub mod pin;
pub mod syscall;
pub mod vmas;
