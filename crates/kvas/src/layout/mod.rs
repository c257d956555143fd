//! The layout planner: every region of a kernel address space, per architecture,
//! mode and options, and the invariant checker.
