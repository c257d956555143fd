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
