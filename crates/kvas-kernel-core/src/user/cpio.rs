//! The initrd: a cpio `newc` archive (magic `070701`), from which the kernel takes `/init`;
//! or, if the blob is not an archive, the blob itself (a static ELF).

/// Why an archive was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpioError {
    /// A header or name runs past the end, at this offset.
    Truncated(usize),
    /// A header field is not 8 hex digits, at this offset.
    BadField(usize),
    /// The archive ends (`TRAILER!!!`) without `/init`.
    NoInit,
}

impl core::fmt::Display for CpioError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CpioError::Truncated(at) => write!(f, "cpio archive truncated at offset {at:#x}"),
            CpioError::BadField(at) => write!(f, "cpio header field is not hex at offset {at:#x}"),
            CpioError::NoInit => write!(f, "cpio archive has no /init"),
        }
    }
}

const MAGIC: &[u8] = b"070701";
const HEADER: usize = 110;

/// Whether `data` starts like a `newc` archive.
pub fn is_archive(data: &[u8]) -> bool {
    data.starts_with(MAGIC)
}

fn field(data: &[u8], at: usize) -> Result<usize, CpioError> {
    let s = data.get(at..at + 8).ok_or(CpioError::Truncated(at))?;
    let s = core::str::from_utf8(s).map_err(|_| CpioError::BadField(at))?;
    usize::from_str_radix(s, 16).map_err(|_| CpioError::BadField(at))
}

/// The contents of `/init` (named `init`, `/init` or `./init`) in the archive `data`.
pub fn find_init(data: &[u8]) -> Result<&[u8], CpioError> {
    let mut at = 0;
    loop {
        let h = data.get(at..at + HEADER).ok_or(CpioError::Truncated(at))?;
        if !h.starts_with(MAGIC) {
            return Err(CpioError::BadField(at));
        }
        let filesize = field(data, at + 54)?;
        let namesize = field(data, at + 94)?;
        let name_at = at + HEADER;
        let name = data.get(name_at..name_at + namesize).ok_or(CpioError::Truncated(name_at))?;
        let name = name.strip_suffix(b"\0").unwrap_or(name);
        let data_at = (name_at + namesize).div_ceil(4) * 4;
        let body = data.get(data_at..data_at + filesize).ok_or(CpioError::Truncated(data_at))?;
        match name {
            b"TRAILER!!!" => return Err(CpioError::NoInit),
            b"init" | b"/init" | b"./init" => return Ok(body),
            _ => at = (data_at + filesize).div_ceil(4) * 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, body: &[u8]) -> Vec<u8> {
        let mut v = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            1,
            0o100755,
            0,
            0,
            1,
            0,
            body.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        )
        .into_bytes();
        v.extend(name.as_bytes());
        v.push(0);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v.extend(body);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn finds_init_after_other_files() {
        let mut a = entry("etc", b"");
        a.extend(entry("hello.txt", b"hi there"));
        a.extend(entry("init", b"\x7fELF..."));
        a.extend(entry("TRAILER!!!", b""));
        assert!(is_archive(&a));
        assert_eq!(find_init(&a), Ok(&b"\x7fELF..."[..]));
    }

    #[test]
    fn refuses_broken_archives() {
        let mut a = entry("hello.txt", b"hi");
        a.extend(entry("TRAILER!!!", b""));
        assert_eq!(find_init(&a), Err(CpioError::NoInit));
        let b = entry("init", b"0123456789");
        assert_eq!(find_init(&b[..b.len() - 4]), Err(CpioError::Truncated(116)));
        let mut c = entry("init", b"x");
        c[60] = b'g';
        assert_eq!(find_init(&c), Err(CpioError::BadField(54)));
        assert!(!is_archive(b"\x7fELF"));
    }
}
