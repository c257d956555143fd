//! User space: processes in U-mode with their own address spaces, Linux's system-call ABI,
//! demand paging, uaccess, ASIDs (docs/KERNEL.md, "User space").
//!
//! - [`space`]: a process's address space (root, ASID, areas), built and freed with the
//!   kvas engine;
//! - [`process`]: loading programs, running them, faults and kills;
//! - [`syscalls`]: the system calls;
//! - [`uaccess`]: copies to and from user memory, with SUM and the exception-fixup table;
//! - [`entry`]: the trap glue into and out of U-mode;
//! - [`fpu`]: a process's floating-point registers across switches;
//! - [`tests`]: the `usertest` lines.
//!
//! The pure parts (syscall decoding, ASID allocation, areas and placement, ELF, cpio, the
//! frame pool) are in `kvas_kernel_core::user`, tested on the host.

pub mod entry;
pub mod fpu;
pub mod process;
pub mod space;
pub mod syscalls;
pub mod tests;
pub mod uaccess;

use kvas::arch::riscv::Satp;
use kvas::paging::FrameAllocator;
use kvas::sizes::SZ_2M;
use kvas_kernel_core::user::asid::Asids;
use kvas_kernel_core::user::cpio;

use crate::kprintln;
use crate::mm::{mmu, KernelSpace};
use process::{Exit, User, MAX_PROCS};
use space::Pool;

/// The user programs of user/ (xtask builds them into kernel/target/user).
pub mod programs {
    /// An ELF file's bytes, 8-byte aligned for the ELF reader.
    #[repr(C, align(8))]
    pub struct Aligned<T: ?Sized>(pub T);

    /// `ut TEST TASK_SIZE`: the user half of the user-space tests.
    pub static UT: &Aligned<[u8]> = &Aligned(*include_bytes!("../../target/user/ut.elf"));
    /// The initrd test's `/init` (also run as a plain program).
    pub static INIT: &Aligned<[u8]> = &Aligned(*include_bytes!("../../target/user/init.elf"));
}

/// The ASID width: the hart's (probed), capped by `kvas.asidbits=N`.
pub fn asid_bits(cap: Option<u32>) -> (u32, u32) {
    let hw = mmu::probe_asid_bits();
    (hw, cap.map_or(hw, |c| c.min(hw)))
}

/// TASK_SIZE of the running mode: the end of kvas::layout's user region.
pub fn task_size(space: &KernelSpace) -> u64 {
    space.layout().user().end().as_u64()
}

/// Prints the serial contract's user-space line.
pub fn report(space: &KernelSpace, bits: u32) {
    let ts = task_size(space);
    kprintln!("kvas: user space 0x0000000000000000-{:#018x} (TASK_SIZE {ts:#x}) asid bits {bits}", ts - 1);
}

/// The least user pool worth having: 4 MiB (two 2 MiB blocks).
const MIN_POOL_FRAMES: u64 = 1024;

/// Takes a 2 MiB-aligned run of frames from the kernel's allocator: `Pool::CAPACITY` frames
/// (32 MiB) if it finds them among the next `2 * CAPACITY` it hands out, else the longest
/// aligned run it saw, if at least [`MIN_POOL_FRAMES`] (RAM in small banks). Frames it looked
/// at and did not keep stay allocated (at most 64 MiB, once, at boot).
fn carve_pool(space: &mut KernelSpace) -> Option<Pool> {
    let want = Pool::CAPACITY as u64;
    let frames = space.frames();
    let (mut start, mut got) = (0u64, 0u64);
    let mut best = (0u64, 0u64);
    for _ in 0..want * 2 {
        let Some(pa) = frames.allocate_frame().map(|f| f.as_u64()) else { break };
        if got > 0 && pa == start + got * 4096 {
            got += 1;
        } else if pa % SZ_2M == 0 {
            (start, got) = (pa, 1);
        } else {
            got = 0;
        }
        if got > best.1 {
            best = (start, got);
        }
        if got == want {
            break;
        }
    }
    // Whole 2 MiB blocks only, so every block of the pool is aligned.
    let frames = best.1 / 512 * 512;
    (frames >= MIN_POOL_FRAMES).then(|| Pool::new(best.0, frames as usize)).flatten()
}

/// The ASID allocator for `bits` bits shared by every hart that is up (after
/// `smp::start_secondaries`).
pub fn new_asids(bits: u32) -> Asids {
    Asids::new(bits, crate::smp::harts().count_ones())
}

/// Sets up user space (after the self-tests and the secondaries' start): the frame pool and
/// the ASID allocator.
pub fn init(space: &mut KernelSpace, bits: u32) -> Option<User> {
    let pool = carve_pool(space)?;
    kprintln!("kvas: user frame pool {:#x} size {:#x}", pool.base(), pool.total_frames() * 4096);
    crate::csr::allow_user_counters();
    let kernel_satp = space.satp();
    let root = space.root();
    debug_assert_eq!(Satp::decode(kernel_satp).map(|s| s.root), Some(root));
    let asids = new_asids(bits);
    if asids.bits() != bits {
        let harts = crate::smp::harts().count_ones();
        kprintln!("kvas: {bits} asid bits are too few for {harts} harts: no ASIDs used");
    }
    Some(User {
        pool,
        asids,
        mode: space.mode(),
        task_size: task_size(space),
        kernel_root: root,
        kernel_satp,
        offset: space.linear().va_pa_offset(),
        procs: [const { None }; MAX_PROCS],
        next_pid: 1,
        flushes: 0,
    })
}

/// Runs the initrd's program (a static ELF, or `/init` of a cpio `newc` archive) as the first
/// process and reports how it ended. The program is copied to a vmalloc area first: a file
/// in a cpio archive is only 4-byte aligned, and the ELF reader wants 8. Returns whether it
/// ran to an exit: one that cannot start, is killed or does not end fails the boot.
pub fn run_initrd(user: &mut User, space: &mut KernelSpace, blob: &[u8]) -> bool {
    let program = if cpio::is_archive(blob) {
        match cpio::find_init(blob) {
            Ok(p) => p,
            Err(e) => {
                kprintln!("kvas: initrd: {e}");
                return false;
            }
        }
    } else {
        blob
    };
    let area = match space.vmalloc(program.len().max(1) as u64) {
        Ok(a) => a,
        Err(e) => {
            kprintln!("kvas: initrd: no room for /init ({} bytes): {e}", program.len());
            return false;
        }
    };
    // SAFETY: the area was just mapped read-write for at least `program.len()` bytes, and
    // nothing else uses it until the vfree below.
    let copy = unsafe { core::slice::from_raw_parts_mut(area.start().as_u64() as *mut u8, program.len()) };
    copy.copy_from_slice(program);
    let spawned = user.spawn(copy, &["/init"]);
    let ran = match spawned {
        Ok(pid) => {
            user.run_all();
            match user.reap(pid) {
                Some(Exit::Status(s)) => {
                    kprintln!("kvas: init exited with status {s}");
                    true
                }
                Some(Exit::Killed(cause, addr)) => {
                    kprintln!("kvas: init killed: {cause} at {addr:#x}");
                    false
                }
                None => {
                    kprintln!("kvas: init did not end");
                    false
                }
            }
        }
        Err(e) => {
            kprintln!("kvas: initrd: /init does not start: {e}");
            false
        }
    };
    if let Err(e) = space.vfree(area) {
        kprintln!("kvas: initrd: vfree: {e}");
    }
    ran
}
