//! The program the initrd test boots as `/init`: says hello through `write` and exits with
//! status 7, which the kernel reports (`kvas: init exited with status 7`).

#![no_std]
#![no_main]

use kvas_user::{getpid, println, Args};

#[no_mangle]
fn user_main(args: Args) -> u64 {
    let name = args.get(0).and_then(|a| core::str::from_utf8(a).ok()).unwrap_or("?");
    println!("init: hello from {name}, pid {}", getpid());
    7
}
