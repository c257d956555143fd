//! User space: processes in U-mode with their own address spaces, Linux's system-call ABI,
//! demand paging, uaccess, ASIDs (docs/KERNEL.md, "User space").
//!
//! - [`space`]: a process's address space (root, ASID, areas), built and freed with the
//!   kvas engine;
//! - [`pool`]: the user frame pool (lowmem for tables; on riscv32 highmem first for user
//!   pages);
//! - [`process`]: loading programs, running them, faults and kills;
//! - [`syscalls`]: the system calls;
//! - [`uaccess`]: copies to and from user memory, with SUM and the exception-fixup table;
//! - [`entry`]: the trap glue into and out of U-mode;
//! - [`fpu`]: a process's floating-point registers across switches;
//! - [`tests`]: the `usertest` lines.
//!
//! The pure parts (syscall decoding, ASID allocation, areas and placement, ELF, cpio, the
//! frame pool) are in `kvas_kernel_core::user`, tested on the host.

pub mod arch;
pub mod entry;
pub mod fpu;
pub mod pool;
pub mod process;
pub mod space;
pub mod syscalls;
pub mod tests;
pub mod uaccess;

use kvas::paging::FrameAllocator;
use kvas::sizes::SZ_2M;
use kvas_kernel_core::user::asid::Asids;

use crate::kprintln;
use arch::KernelSpace;
use kvas_kernel_core::user::frames::FramePool;
use pool::Pool;
use process::{User, MAX_PROCS};

/// The user programs of user/ (xtask builds them into kernel/target/user).
pub mod programs {
    /// An ELF file's bytes, 8-byte aligned for the ELF reader.
    #[repr(C, align(8))]
    pub struct Aligned<T: ?Sized>(pub T);

    /// `ut TEST TASK_SIZE`: the user half of the user-space tests.
    #[cfg(target_arch = "riscv64")]
    pub static UT: &Aligned<[u8]> = &Aligned(*include_bytes!("../../target/user/ut.elf"));
    /// The initrd test's `/init` (also run as a plain program).
    #[cfg(target_arch = "riscv64")]
    pub static INIT: &Aligned<[u8]> = &Aligned(*include_bytes!("../../target/user/init.elf"));
    /// `ut`, built for riscv32 (`xtask user32`).
    #[cfg(target_arch = "riscv32")]
    pub static UT: &Aligned<[u8]> = &Aligned(*include_bytes!("../../target/user-riscv32/ut.elf"));
    /// `init`, built for riscv32.
    #[cfg(target_arch = "riscv32")]
    pub static INIT: &Aligned<[u8]> = &Aligned(*include_bytes!("../../target/user-riscv32/init.elf"));
}

/// The ASID width: the hart's (probed), capped by `kvas.asidbits=N`.
pub fn asid_bits(cap: Option<u32>) -> (u32, u32) {
    let hw = arch::probe_asid_bits();
    (hw, cap.map_or(hw, |c| c.min(hw)))
}

/// TASK_SIZE as the paging mode defines it: the lower half's end.
#[cfg(target_arch = "riscv64")]
pub fn expected_task_size(space: &KernelSpace) -> u64 {
    space.mode().geometry().user_half_end()
}

/// TASK_SIZE as the split defines it: `PAGE_OFFSET`, or under 4G/4G everything below the
/// shared top 256 MiB.
#[cfg(target_arch = "riscv32")]
pub fn expected_task_size(space: &KernelSpace) -> u64 {
    match space.split() {
        kvas::layout::Vmsplit::G4G4 => kvas::layout::riscv32_split::SHARED_START,
        split => split.page_offset(),
    }
}

/// TASK_SIZE of the running mode: the end of kvas::layout's user region.
#[cfg(target_arch = "riscv64")]
pub fn task_size(space: &KernelSpace) -> u64 {
    space.layout().user().end().as_u64()
}

/// Prints the serial contract's user-space line.
#[cfg(target_arch = "riscv64")]
pub fn report(space: &KernelSpace, bits: u32) {
    let ts = task_size(space);
    kprintln!("kvas: user space 0x0000000000000000-{:#018x} (TASK_SIZE {ts:#x}) asid bits {bits}", ts - 1);
}

/// Prints what `kvas.separate` changes, when it is given.
pub fn report_separate(separate: bool) {
    if separate {
        kprintln!("kvas: user space separate: the kernel on its own root and ASID 0, satp switched at every trap, uaccess pinned");
    }
}

/// The least user pool worth having: 4 MiB (two 2 MiB blocks).
const MIN_POOL_FRAMES: u64 = 1024;

/// Takes a 2 MiB-aligned run of frames from the kernel's allocator: `LowPool::CAPACITY`
/// frames (32 MiB) if it finds them among the next `2 * CAPACITY` it hands out, else the
/// longest aligned run it saw, if at least [`MIN_POOL_FRAMES`] (RAM in small banks). Frames
/// it looked at and did not keep stay allocated (at most 64 MiB, once, at boot).
#[cfg(target_arch = "riscv64")]
fn carve_pool(space: &mut KernelSpace) -> Option<Pool> {
    carve(space.frames()).map(Pool::new)
}

/// [`carve_pool`] on riscv32: the lowmem part from the lowmem allocator (the linear map
/// covers it: page tables), and when there is highmem a highmem part (`pool::HighPool`, up
/// to 64 MiB) from the highmem allocator, which user pages come from first.
#[cfg(target_arch = "riscv32")]
fn carve_pool(space: &mut KernelSpace) -> Option<Pool> {
    let pool = Pool::new(carve(space.tables_mut().1)?);
    if space.highmem_bytes() == 0 {
        return Some(pool);
    }
    match carve(space.highmem_frames()) {
        Some(high) => Some(pool.with_high(high)),
        None => {
            kprintln!("kvas: no 4 MiB of aligned highmem for user pages: they come from lowmem");
            Some(pool)
        }
    }
}

/// [`carve_pool`]'s search among the frames `frames` hands out, for a pool of up to
/// `64 * W` frames.
fn carve<const W: usize>(frames: &mut impl FrameAllocator) -> Option<FramePool<W>> {
    let want = FramePool::<W>::CAPACITY as u64;
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
    (frames >= MIN_POOL_FRAMES).then(|| FramePool::new(best.0, frames as usize)).flatten()
}

/// The ASID allocator for `bits` bits shared by every hart that is up (after
/// `smp::start_secondaries`; riscv32 runs one).
pub fn new_asids(bits: u32) -> Asids {
    #[cfg(target_arch = "riscv64")]
    let harts = crate::smp::harts().count_ones();
    #[cfg(target_arch = "riscv32")]
    let harts = 1;
    Asids::new(bits, harts)
}

/// The pkmap slots user space takes on riscv32 (one at a time is in use: a zeroing, an ELF
/// page, a pinned copy's chunk).
#[cfg(target_arch = "riscv32")]
const USER_KMAP_SLOTS: usize = 16;

/// The pool's lines: its lowmem part, and its highmem part when it has one.
fn report_pool(pool: &Pool) {
    let low = pool.low();
    kprintln!("kvas: user frame pool {:#x} size {:#x}", low.base(), low.total_frames() * 4096);
    if let Some(high) = pool.high() {
        kprintln!(
            "kvas: user frame pool highmem {:#x} size {:#x}: user pages from here first",
            high.base(),
            high.total_frames() * 4096
        );
    }
}

/// Sets up user space (after the self-tests and the secondaries' start): the frame pool and
/// the ASID allocator; `separate`: every process in an address space apart from the
/// kernel's (`kvas.separate`).
#[cfg(target_arch = "riscv64")]
pub fn init(space: &mut KernelSpace, bits: u32, separate: bool) -> Option<User> {
    use kvas::arch::riscv::Satp;
    let pool = carve_pool(space)?;
    report_pool(&pool);
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
        linear: (space.linear().page_offset.as_u64(), space.linear().size),
        procs: [const { None }; MAX_PROCS],
        next_pid: 1,
        flushes: 0,
        separate,
    })
}

/// Sets up user space on riscv32 (after the self-tests): the pool (lowmem, and highmem when
/// there is some), user space's kmap slots, the ASIDs.
/// Under `vmsplit=4g4g` every process is separate (the kernel has its own root there);
/// `separate` asks for it under the other splits too.
#[cfg(target_arch = "riscv32")]
pub fn init(space: &mut KernelSpace, bits: u32, separate: bool) -> Option<User> {
    let pool = carve_pool(space)?;
    report_pool(&pool);
    // User space's own kmap slots (its pages in highmem are reached through them).
    if !space.take_kmap_slots(USER_KMAP_SLOTS).is_some_and(arch::install_kmap) {
        kprintln!("kvas: no {USER_KMAP_SLOTS} pkmap slots for user space");
        return None;
    }
    crate::csr::allow_user_counters();
    let separate = separate || space.split() == kvas::layout::Vmsplit::G4G4;
    let linear = space.linear();
    Some(User {
        pool,
        asids: new_asids(bits),
        mode: arch::Mode,
        task_size: expected_task_size(space),
        kernel_root: space.root(),
        kernel_satp: u64::from(space.satp()),
        offset: linear.va_pa_offset(),
        linear: (linear.page_offset.as_u64(), linear.size),
        procs: [const { None }; MAX_PROCS],
        next_pid: 1,
        flushes: 0,
        separate,
    })
}

/// The initrd's program: the blob itself (a static ELF), or `/init` of a cpio `newc`
/// archive; `None` (said why) if the archive has none.
fn initrd_program(blob: &[u8]) -> Option<&[u8]> {
    use kvas_kernel_core::user::cpio;
    if !cpio::is_archive(blob) {
        return Some(blob);
    }
    match cpio::find_init(blob) {
        Ok(p) => Some(p),
        Err(e) => {
            kprintln!("kvas: initrd: {e}");
            None
        }
    }
}

/// Runs `program` (8-byte aligned) as `/init` and reports how it ended; whether it ran to
/// an exit.
fn run_init(user: &mut User, program: &[u8]) -> bool {
    use process::Exit;
    match user.spawn(program, &["/init"]) {
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
    }
}

/// Runs the initrd's program (a static ELF, or `/init` of a cpio `newc` archive) as the first
/// process and reports how it ended. The program is copied to a vmalloc area first: a file
/// in a cpio archive is only 4-byte aligned, and the ELF reader wants 8. Returns whether it
/// ran to an exit: one that cannot start, is killed or does not end fails the boot.
#[cfg(target_arch = "riscv64")]
pub fn run_initrd(user: &mut User, space: &mut KernelSpace, blob: &[u8]) -> bool {
    let Some(program) = initrd_program(blob) else { return false };
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
    let ran = run_init(user, copy);
    if let Err(e) = space.vfree(area) {
        kprintln!("kvas: initrd: vfree: {e}");
    }
    ran
}

/// [`run_initrd`] on riscv32: the copy goes to a 2 MiB block of the user pool (lowmem, so
/// contiguous in the linear map), given back afterwards.
#[cfg(target_arch = "riscv32")]
pub fn run_initrd(user: &mut User, blob: &[u8]) -> bool {
    let Some(program) = initrd_program(blob) else { return false };
    if program.len() as u64 > SZ_2M {
        kprintln!("kvas: initrd: /init is {} bytes, more than the 2 MiB kvas copies", program.len());
        return false;
    }
    let Some(block) = user.pool.alloc_block() else {
        kprintln!("kvas: initrd: no 2 MiB block free for /init");
        return false;
    };
    // SAFETY: the block is 2 MiB of pool frames, in lowmem (mapped read-write by the linear
    // map at `offset`), taken just now and used by nothing else until freed below.
    let copy = unsafe {
        core::slice::from_raw_parts_mut(block.wrapping_add(user.offset) as usize as *mut u8, program.len())
    };
    copy.copy_from_slice(program);
    let ran = run_init(user, copy);
    for frame in (0..SZ_2M).step_by(4096) {
        user.pool.free(block + frame);
    }
    ran
}
