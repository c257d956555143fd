//! Physical memory: RAM banks and reservations (from a device tree or text), and
//! the early frame allocator.
