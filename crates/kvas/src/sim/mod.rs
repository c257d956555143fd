//! The host simulator: simulated physical RAM and a software MMU that translates
//! exactly as the RISC-V privileged spec says.
