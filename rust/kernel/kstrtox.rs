// SPDX-License-Identifier: GPL-2.0

//! Parsing integers as the kernel's `kstrto*()` functions do.
//!
//! Values that user space writes to sysfs attributes, module parameters and similar text
//! interfaces are parsed in C with `kstrtouint()`, `kstrtoull()` and friends (booleans with
//! `kstrtobool()`, which [`crate::str::kstrtobool`] calls). A Rust driver that implements an existing ABI must accept and refuse exactly
//! what the C functions do, so this module calls them rather than re-implementing them:
//!
//! - an optional `+` sign (and, for signed types, `-`), no leading whitespace;
//! - digits in the given [`Radix`]; [`Radix::Auto`] takes `0x` as hexadecimal and a
//!   leading `0` as octal, [`Radix::Hex`] allows an optional `0x`;
//! - one trailing newline, and nothing else after the digits;
//! - a value that does not fit the type fails with `ERANGE`, anything else malformed with
//!   `EINVAL`.
//!
//! C header: [`include/linux/kstrtox.h`](srctree/include/linux/kstrtox.h)

use crate::{bindings, error::to_result, prelude::*, str::CStr};

/// The base in which [`kstrto`] reads the digits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Radix {
    /// `0x` prefix: hexadecimal; `0` prefix: octal; otherwise decimal (base 0 in C).
    Auto,
    /// Octal.
    Oct,
    /// Decimal.
    Dec,
    /// Hexadecimal, with an optional `0x` prefix.
    Hex,
}

impl Radix {
    fn base(self) -> u32 {
        match self {
            Self::Auto => 0,
            Self::Oct => 8,
            Self::Dec => 10,
            Self::Hex => 16,
        }
    }
}

mod private {
    pub trait Sealed {}
}

/// An integer type that a `kstrto*()` function parses.
///
/// This trait is sealed: it is implemented for the types the C library has a parser for.
pub trait FromKstr: Sized + private::Sealed {
    /// Parses `s` in `radix` (see the [module documentation](self)).
    fn from_kstr(s: &CStr, radix: Radix) -> Result<Self>;
}

macro_rules! impl_from_kstr {
    ($($t:ty => $f:ident),* $(,)?) => {$(
        impl private::Sealed for $t {}

        impl FromKstr for $t {
            fn from_kstr(s: &CStr, radix: Radix) -> Result<Self> {
                let mut v: $t = 0;
                // SAFETY: `s` is a valid NUL-terminated string and `v` a valid place for the
                // C function's result type, which is `$t`; the function writes it only on
                // success.
                to_result(unsafe {
                    bindings::$f(s.as_char_ptr(), radix.base(), &mut v)
                })?;
                Ok(v)
            }
        }
    )*};
}

impl_from_kstr!(
    u8 => kstrtou8,
    u16 => kstrtou16,
    u32 => kstrtouint,
    u64 => kstrtoull,
    i8 => kstrtos8,
    i16 => kstrtos16,
    i32 => kstrtoint,
    i64 => kstrtoll,
);

/// Parses `s` as an integer of type `T`, as the matching `kstrto*()` function does.
///
/// # Examples
///
/// ```
/// use kernel::kstrtox::{kstrto, Radix};
///
/// assert_eq!(kstrto::<u32>(c"42", Radix::Dec), Ok(42));
/// assert_eq!(kstrto::<u32>(c"42\n", Radix::Dec), Ok(42));
/// assert_eq!(kstrto::<u32>(c"+42", Radix::Dec), Ok(42));
/// assert_eq!(kstrto::<u32>(c"0x2a", Radix::Auto), Ok(42));
/// assert_eq!(kstrto::<u32>(c"052", Radix::Auto), Ok(42));
/// assert_eq!(kstrto::<u32>(c"2a", Radix::Hex), Ok(42));
/// assert_eq!(kstrto::<u32>(c"4294967295", Radix::Dec), Ok(u32::MAX));
/// assert_eq!(kstrto::<u64>(c"18446744073709551615", Radix::Dec), Ok(u64::MAX));
/// assert_eq!(kstrto::<i32>(c"-1", Radix::Dec), Ok(-1));
/// assert_eq!(kstrto::<i64>(c"-9223372036854775808", Radix::Dec), Ok(i64::MIN));
///
/// // One past the type's range.
/// assert_eq!(kstrto::<u32>(c"4294967296", Radix::Dec), Err(ERANGE));
/// assert_eq!(kstrto::<u64>(c"18446744073709551616", Radix::Dec), Err(ERANGE));
/// assert_eq!(kstrto::<u8>(c"256", Radix::Dec), Err(ERANGE));
/// assert_eq!(kstrto::<i32>(c"2147483648", Radix::Dec), Err(ERANGE));
///
/// // Malformed: empty, signs, whitespace, garbage, the wrong base.
/// for bad in [
///     c"", c"\n", c"-", c"+", c"-1", c" 1",
///     c"1 ", c"1\n\n", c"1x", c"0x", c"0x2a",
///     c"\t1", c"one", c"--1",
/// ] {
///     assert_eq!(kstrto::<u32>(bad, Radix::Dec), Err(EINVAL));
/// }
/// assert_eq!(kstrto::<u32>(c"08", Radix::Auto), Err(EINVAL));
/// ```
pub fn kstrto<T: FromKstr>(s: &CStr, radix: Radix) -> Result<T> {
    T::from_kstr(s, radix)
}
