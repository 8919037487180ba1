//! The C math functions LuaJIT calls (`math.sin`, `x ^ y`, ...), defined here from the
//! `libm` crate (a Rust port of musl's libm) so that the process does not load glibc's
//! libm at all.
//!
//! Why: a process linked to glibc's libm runs its IFUNC resolvers at startup (LuaJIT
//! takes these functions' addresses for compiled code, so they are bound when the
//! binary loads), and they are spread over the library: about 300 KB of libm's pages
//! were resident in every Stardust process, whether a script did any math or not
//! (docs/memory.md). Defined in the binary, the linker binds LuaJIT's references to
//! these, and libm is no longer needed. rustc exports `#[no_mangle]` functions in the
//! binary's dynamic symbol table, so `ffi.C.sin` still finds them as it found libm's.
//!
//! These are exactly the functions the binary imported from libm (`nm -D
//! --undefined-only`); a new one would bring libm back, which is harmless but undoes
//! the saving.

use std::ffi::c_int;

macro_rules! unary {
    ($($name:ident),*) => {$(
        #[no_mangle]
        pub extern "C" fn $name(x: f64) -> f64 {
            libm::$name(x)
        }
    )*};
}

unary!(acos, asin, atan, cos, cosh, exp, log, log10, log2, sin, sinh, tan, tanh);

#[no_mangle]
pub extern "C" fn atan2(y: f64, x: f64) -> f64 {
    libm::atan2(y, x)
}

#[no_mangle]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

#[no_mangle]
pub extern "C" fn ldexp(x: f64, e: c_int) -> f64 {
    libm::ldexp(x, e)
}

/// # Safety
/// `e` is a valid pointer to write the exponent to (the C contract).
#[no_mangle]
pub unsafe extern "C" fn frexp(x: f64, e: *mut c_int) -> f64 {
    let (m, exp) = libm::frexp(x);
    *e = exp;
    m
}

/// # Safety
/// `int_part` is a valid pointer to write the integral part to (the C contract).
#[no_mangle]
pub unsafe extern "C" fn modf(x: f64, int_part: *mut f64) -> f64 {
    let (frac, int) = libm::modf(x);
    *int_part = int;
    frac
}

#[cfg(test)]
mod tests {
    // (Known values, not std's: in this crate std's f64::sin calls these very symbols.)
    #[test]
    fn the_c_functions_give_the_known_values() {
        use std::f64::consts::{E, FRAC_PI_4, PI};
        let close = |a: f64, b: f64| (a - b).abs() <= 2.0 * f64::EPSILON * b.abs().max(1.0);
        assert!(close(super::sin(PI / 6.0), 0.5));
        assert!(close(super::cos(PI / 3.0), 0.5));
        assert!(close(super::tan(FRAC_PI_4), 1.0));
        assert!(close(super::asin(1.0), PI / 2.0) && close(super::acos(-1.0), PI));
        assert!(close(super::atan(1.0), FRAC_PI_4) && close(super::atan2(1.0, 1.0), FRAC_PI_4));
        assert!(close(super::exp(1.0), E) && close(super::log(E), 1.0));
        assert_eq!((super::log10(1000.0), super::log2(1024.0)), (3.0, 10.0));
        assert!(close(super::sinh(1.0), (E - 1.0 / E) / 2.0));
        assert!(close(super::cosh(1.0), (E + 1.0 / E) / 2.0));
        assert!(close(super::tanh(0.5), 0.46211715726000974));
        assert_eq!((super::pow(2.0, 10.0), super::pow(9.0, 0.5)), (1024.0, 3.0));
        assert!(super::log(-1.0).is_nan() && super::pow(0.0, -1.0) == f64::INFINITY);
        let mut e = 0;
        // SAFETY: a valid out-pointer.
        assert_eq!(unsafe { super::frexp(12.0, &mut e) }, 0.75);
        assert_eq!(e, 4);
        let mut int = 0.0;
        // SAFETY: a valid out-pointer.
        assert_eq!(unsafe { super::modf(-3.25, &mut int) }, -0.25);
        assert_eq!(int, -3.0);
        assert_eq!(super::ldexp(0.75, 4), 12.0);
    }
}
