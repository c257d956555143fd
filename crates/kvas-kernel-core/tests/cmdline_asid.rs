//! `kvas.asidbits=N` caps the ASID width (user space's rollover tests).

use kvas_kernel_core::Cmdline;

#[test]
fn asidbits_word() {
    assert_eq!(Cmdline::parse("kvas.asidbits=2").asid_bits, Some(2));
    assert_eq!(Cmdline::parse("a kvas.asidbits=0 b").asid_bits, Some(0));
    assert_eq!(Cmdline::parse("kvas.asidbits=99").asid_bits, Some(16));
    assert_eq!(Cmdline::parse("kvas.asidbits=x").asid_bits, None);
    assert_eq!(Cmdline::parse("").asid_bits, None);
}

#[test]
fn separate_word() {
    assert!(Cmdline::parse("kvas.separate").separate);
    assert!(Cmdline::parse("no4lvl kvas.separate kvas.asidbits=0").separate);
    assert!(!Cmdline::parse("kvas.separate=1 separate").separate);
    assert!(!Cmdline::parse("").separate);
}
