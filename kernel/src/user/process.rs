//! Processes: loading a program (kvas_kernel_core's ELF reading, segments mapped with their
//! own rights, a stack at the top of the window with a guard page below it and Linux's
//! initial stack), running them round-robin (`sched_yield` switches), serving their faults
//! (demand paging) and killing a process whose access cannot be served, with one line
//! `kvas: pid N killed: CAUSE at 0xADDR`. The kernel goes on.

use kvas::arch::riscv::Mode;
use kvas::sizes::PAGE_SIZE;
use kvas::PhysAddr;
use kvas_kernel_core::user::asid::Asids;
use kvas_kernel_core::user::elf::{self, ElfError};
use kvas_kernel_core::user::syscall::{prot, Syscall};
use kvas_kernel_core::user::vmas::{Access, Area, Kind};

use super::entry::{self, UserRegs};
use super::fpu::{self, FpState};
use super::space::{AddressSpace, Pool};
use super::syscalls;
use crate::kprintln;
use crate::mm::mmu;

/// Most processes at a time.
pub const MAX_PROCS: usize = 6;

/// The frame pool as the kernel side of a slice (system calls, faults) reaches it: directly
/// on one hart, through a lock when several harts run processes at once (user/tests/smp.rs).
pub trait PoolAccess {
    /// Runs `f` with the pool.
    fn with<R>(&mut self, f: impl FnOnce(&mut Pool) -> R) -> R;
}

impl PoolAccess for Pool {
    fn with<R>(&mut self, f: impl FnOnce(&mut Pool) -> R) -> R {
        f(self)
    }
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `exit`/`exit_group` with this status.
    Status(u64),
    /// Killed: the cause and the address.
    Killed(&'static str, u64),
}

/// One process.
pub struct Process {
    /// Its id (from 1).
    pub pid: u64,
    /// Its address space.
    pub space: AddressSpace,
    /// Its registers while it does not run.
    pub regs: UserRegs,
    /// Its floating-point registers while it does not run (fpu.rs).
    pub fp: FpState,
    /// How it ended, once it has.
    pub exit: Option<Exit>,
}

/// The user-space subsystem: the frame pool, the ASID allocator, the processes.
pub struct User {
    /// Every user frame and user page-table frame comes from here.
    pub pool: Pool,
    /// The ASID allocator.
    pub asids: Asids,
    /// The running mode.
    pub mode: Mode,
    /// TASK_SIZE.
    pub task_size: u64,
    /// The kernel's root (its half is copied into every process).
    pub kernel_root: PhysAddr,
    /// The kernel's own `satp` (ASID 0, no user half).
    pub kernel_satp: u64,
    /// The linear map's offset (how the kernel reaches every frame).
    pub offset: u64,
    /// The processes.
    pub procs: [Option<Process>; MAX_PROCS],
    /// The next pid.
    pub next_pid: u64,
    /// Whether the last switch flushed the whole TLB (for the ASID tests).
    pub flushes: u64,
}

/// Why a program did not start.
pub enum SpawnError {
    /// The ELF was refused.
    Elf(ElfError),
    /// No room (process table, frames, areas).
    NoRoom(&'static str),
}

impl core::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SpawnError::Elf(e) => write!(f, "{e}"),
            SpawnError::NoRoom(what) => write!(f, "no room: {what}"),
        }
    }
}

fn scause_access(scause: u64) -> Option<Access> {
    match scause {
        12 | 1 => Some(Access::Fetch),
        13 | 5 => Some(Access::Load),
        15 | 7 => Some(Access::Store),
        _ => None,
    }
}

impl User {
    /// Starts `program` with arguments `args` (argv[0] first); returns its pid.
    pub fn spawn(&mut self, program: &[u8], args: &[&str]) -> Result<u64, SpawnError> {
        let slot = self.procs.iter().position(Option::is_none).ok_or(SpawnError::NoRoom("process table"))?;
        let prog = elf::parse(program, self.task_size).map_err(SpawnError::Elf)?;
        let mut space =
            AddressSpace::new(self.mode, self.kernel_root, self.offset, self.task_size, &mut self.pool)
                .map_err(|_| SpawnError::NoRoom("a root table"))?;
        let loaded = self.load(&mut space, program, &prog, args);
        let sp = match loaded {
            Ok(sp) => sp,
            Err(e) => {
                space.destroy(&mut self.pool);
                return Err(e);
            }
        };
        let pid = self.next_pid;
        self.next_pid += 1;
        self.procs[slot] = Some(Process {
            pid,
            space,
            regs: UserRegs::new(prog.entry, sp),
            fp: FpState::default(),
            exit: None,
        });
        Ok(pid)
    }

    fn load(
        &mut self,
        space: &mut AddressSpace,
        data: &[u8],
        prog: &elf::Program,
        args: &[&str],
    ) -> Result<u64, SpawnError> {
        let pool = &mut self.pool;
        for s in prog.segments.iter().flatten() {
            let (start, end) = s.pages();
            space
                .areas
                .insert(Area { start, end, prot: s.prot, kind: Kind::Image })
                .map_err(|_| SpawnError::NoRoom("areas"))?;
            // Every page of the segment, its file bytes copied in (the rest stays zero); the
            // pages are mapped with the segment's rights from the start (user pages are
            // written through the linear map, never through the user mapping).
            let file = &data[s.offset as usize..(s.offset + s.filesz) as usize];
            for page in (start..end).step_by(PAGE_SIZE as usize) {
                let lo = page.max(s.vaddr);
                let hi = (page + PAGE_SIZE).min(s.vaddr + s.filesz);
                let bytes =
                    if hi > lo { &file[(lo - s.vaddr) as usize..(hi - s.vaddr) as usize] } else { &[][..] };
                space
                    .map_image_page(page, bytes, (lo - page) as usize, s.prot, pool)
                    .map_err(|_| SpawnError::NoRoom("frames for the image"))?;
            }
        }
        space.areas.set_brk_start(prog.brk_start);
        let layout = space.areas.layout;
        let (lo, hi) = layout.stack();
        let rw = prot::READ | prot::WRITE;
        space
            .areas
            .insert(Area { start: lo - PAGE_SIZE, end: lo, prot: 0, kind: Kind::Guard })
            .and_then(|()| space.areas.insert(Area { start: lo, end: hi, prot: rw, kind: Kind::Stack }))
            .map_err(|_| SpawnError::NoRoom("the stack"))?;
        // Linux's initial stack, in the top page: 16 bytes for AT_RANDOM and the strings at
        // the top, then argc, argv[], NULL, envp NULL, auxv, 16-byte aligned.
        let mut page = [0u8; PAGE_SIZE as usize];
        let mut top = PAGE_SIZE as usize - 16;
        // AT_RANDOM's bytes: not random (kvas has no entropy source), distinct per start.
        let t = syscalls::read_time();
        page[top..top + 8].copy_from_slice(&t.to_le_bytes());
        page[top + 8..top + 16].copy_from_slice(&(t.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15).to_le_bytes());
        let random = hi - 16;
        let mut ptrs = [0u64; 8];
        for (i, a) in args.iter().take(ptrs.len()).enumerate() {
            top -= a.len() + 1;
            page[top..top + a.len()].copy_from_slice(a.as_bytes());
            ptrs[i] = hi - PAGE_SIZE + top as u64;
        }
        let argc = args.len().min(ptrs.len());
        // AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ, AT_ENTRY, AT_UID, AT_EUID, AT_GID, AT_EGID,
        // AT_SECURE, AT_RANDOM, AT_NULL.
        let auxv = [
            (3, prog.phdr),
            (4, prog.phent),
            (5, prog.phnum),
            (6, PAGE_SIZE),
            (9, prog.entry),
            (11, 0),
            (12, 0),
            (13, 0),
            (14, 0),
            (23, 0),
            (25, random),
            (0, 0),
        ];
        let words = 1 + argc + 1 + 1 + 2 * auxv.len();
        let start = (top - words * 8) & !15;
        let mut w = start;
        let mut put = |v: u64| {
            page[w..w + 8].copy_from_slice(&v.to_le_bytes());
            w += 8;
        };
        put(argc as u64);
        ptrs[..argc].iter().for_each(|&p| put(p));
        put(0);
        put(0);
        for (k, v) in auxv {
            put(k);
            put(v);
        }
        space
            .map_image_page(hi - PAGE_SIZE, &page, 0, rw, pool)
            .map_err(|_| SpawnError::NoRoom("the stack"))?;
        Ok(hi - PAGE_SIZE + start as u64)
    }

    /// Runs every live process round-robin until all have ended.
    pub fn run_all(&mut self) {
        let mut i = 0;
        while self.procs.iter().flatten().any(|p| p.exit.is_none()) {
            if let Some(p) = self.procs[i].as_mut().filter(|p| p.exit.is_none()) {
                if p.space.activate(&mut self.asids) {
                    self.flushes += 1;
                }
                Self::run_slice(p, &mut self.pool, self.task_size);
            }
            i = (i + 1) % MAX_PROCS;
        }
        self.back_to_kernel();
    }

    /// Switches back to the kernel's own tables (ASID 0).
    pub fn back_to_kernel(&self) {
        // SAFETY: the kernel's satp maps the kernel half every process shares.
        unsafe { mmu::switch_user(self.kernel_satp, self.asids.bits() == 0) };
    }

    /// Runs `p` until it yields or ends (its space current on this hart): the context switch
    /// in and out of `p`, its floating-point registers included (loaded here, saved when it
    /// leaves if it wrote them; fpu.rs).
    pub fn run_slice(p: &mut Process, pool: &mut impl PoolAccess, task_size: u64) {
        fpu::switch_in(&p.fp);
        Self::run_until_switch(p, pool, task_size);
        fpu::switch_out(&mut p.fp);
    }

    fn run_until_switch(p: &mut Process, pool: &mut impl PoolAccess, task_size: u64) {
        // The same fault twice in a row means serving it did not help: kill, never spin.
        let mut last_fault = None;
        loop {
            // SAFETY: p's space is current (activated by the caller) and sepc is where the
            // program left off, a user address.
            unsafe { entry::run(&mut p.regs) };
            let (scause, stval) = (p.regs.scause, p.regs.stval);
            if scause == 8 {
                p.regs.sepc += 4;
                let a = &p.regs.x;
                let call = Syscall::decode(a[17], [a[10], a[11], a[12], a[13], a[14], a[15]]);
                match pool.with(|pool| syscalls::dispatch(p, call, pool, task_size)) {
                    syscalls::Next::Return(v) => p.regs.x[10] = v,
                    syscalls::Next::Yield => {
                        p.regs.x[10] = 0;
                        return;
                    }
                    syscalls::Next::Exit(status) => {
                        p.exit = Some(Exit::Status(status));
                        return;
                    }
                }
                last_fault = None;
                continue;
            }
            match scause_access(scause) {
                Some(_) if last_fault == Some((p.regs.sepc, stval)) => {
                    return kill(p, "the same fault again after it was served", stval);
                }
                Some(access) => match pool.with(|pool| p.space.fault(stval, access, pool)) {
                    Ok(()) => last_fault = Some((p.regs.sepc, stval)),
                    Err(why) => return kill(p, why.cause(access), stval),
                },
                None => {
                    let cause = match scause {
                        2 => "illegal instruction",
                        3 => "breakpoint",
                        0 | 4 | 6 => "misaligned access",
                        _ => "an exception kvas does not handle",
                    };
                    return kill(p, cause, if scause == 2 { p.regs.sepc } else { stval });
                }
            }
        }
    }

    /// Frees the ended process `pid`; returns how it ended.
    pub fn reap(&mut self, pid: u64) -> Option<Exit> {
        let slot =
            self.procs.iter().position(|p| p.as_ref().is_some_and(|p| p.pid == pid && p.exit.is_some()))?;
        let p = self.procs[slot].take()?;
        p.space.destroy(&mut self.pool);
        p.exit
    }
}

fn kill(p: &mut Process, cause: &'static str, addr: u64) {
    kprintln!("kvas: pid {} killed: {cause} at {addr:#x}", p.pid);
    p.exit = Some(Exit::Killed(cause, addr));
}
