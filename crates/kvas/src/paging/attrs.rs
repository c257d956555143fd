//! Architecture-neutral page attributes.

use bitflags::bitflags;

bitflags! {
    /// What a leaf allows and records, independent of any architecture's bit layout.
    ///
    /// Each table format maps these onto its own bits; RISC-V has one bit for each.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct Attrs: u16 {
        /// Loads are allowed.
        const READ = 1 << 0;
        /// Stores are allowed.
        const WRITE = 1 << 1;
        /// Instruction fetches are allowed.
        const EXECUTE = 1 << 2;
        /// User mode may access the page.
        const USER = 1 << 3;
        /// The mapping exists in every address space (not flushed on ASID switch).
        const GLOBAL = 1 << 4;
        /// The page has been accessed. Cores without hardware A/D updates fault
        /// on a page whose A bit is clear, so kernel mappings set it up front.
        const ACCESSED = 1 << 5;
        /// The page has been written (see [`Attrs::ACCESSED`] for why kernels preset it).
        const DIRTY = 1 << 6;
    }
}

impl Attrs {
    /// Kernel data: read, write, global, accessed, dirty.
    pub const KERNEL_RW: Attrs =
        Attrs::READ.union(Attrs::WRITE).union(Attrs::GLOBAL).union(Attrs::ACCESSED).union(Attrs::DIRTY);
    /// Kernel read-only data.
    pub const KERNEL_RO: Attrs = Attrs::READ.union(Attrs::GLOBAL).union(Attrs::ACCESSED);
    /// Kernel text: read and execute.
    pub const KERNEL_RX: Attrs = Attrs::KERNEL_RO.union(Attrs::EXECUTE);

    /// Whether the attributes grant both write and execute (forbidden under W^X).
    pub const fn is_writable_and_executable(self) -> bool {
        self.contains(Attrs::WRITE.union(Attrs::EXECUTE))
    }
}
