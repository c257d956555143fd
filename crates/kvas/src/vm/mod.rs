//! Virtual-range allocators: vmalloc with guard pages, and the modules/BPF window.
