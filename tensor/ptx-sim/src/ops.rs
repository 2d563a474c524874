//! The arithmetic of each instruction, as pure functions on register bits, exactly as the PTX
//! ISA defines it. Registers are `u64`; 32-bit values live zero-extended in the low half, f32
//! values as their IEEE bits, predicates as 0 or 1.

use crate::kinds::{AtomOp, Cmp, CmpTy, Cvt, FOp, FUnOp, IntOp, IntTy, IntUnOp, MadOp, Round};

const LOW: u64 = 0xFFFF_FFFF;

fn f(bits: u64) -> f32 {
    f32::from_bits(bits as u32)
}

fn bits(x: f32) -> u64 {
    x.to_bits() as u64
}

/// A binary integer operation; `None` for division (or remainder) by zero.
#[inline]
pub fn int_binary(op: IntOp, ty: IntTy, a: u64, b: u64) -> Option<u64> {
    let shift = b as u32;
    Some(match ty {
        IntTy::U32 => {
            let (a, b) = (a as u32, b as u32);
            let wide = a as u64 * b as u64;
            match op {
                IntOp::MulHi => wide >> 32,
                IntOp::MulWide => wide,
                IntOp::Shl => a.checked_shl(shift).unwrap_or(0) as u64,
                IntOp::Shr => a.checked_shr(shift).unwrap_or(0) as u64,
                _ => common32(
                    op,
                    a,
                    b,
                    a.checked_div(b),
                    a.checked_rem(b),
                    a.min(b),
                    a.max(b),
                )?,
            }
        }
        IntTy::S32 => {
            let (a, b) = (a as u32 as i32, b as u32 as i32);
            let wide = a as i64 * b as i64;
            match op {
                IntOp::MulHi => (wide >> 32) as u64 & LOW,
                IntOp::MulWide => wide as u64,
                IntOp::Shl => (a as u32).checked_shl(shift).unwrap_or(0) as u64,
                IntOp::Shr => (a >> shift.min(31)) as u32 as u64,
                _ => common32(
                    op,
                    a as u32,
                    b as u32,
                    (b != 0).then(|| a.wrapping_div(b) as u32),
                    (b != 0).then(|| a.wrapping_rem(b) as u32),
                    a.min(b) as u32,
                    a.max(b) as u32,
                )?,
            }
        }
        IntTy::U64 => {
            let wide = a as u128 * b as u128;
            match op {
                IntOp::MulHi => (wide >> 64) as u64,
                IntOp::Shl => a.checked_shl(shift).unwrap_or(0),
                IntOp::Shr => a.checked_shr(shift).unwrap_or(0),
                _ => common64(
                    op,
                    a,
                    b,
                    a.checked_div(b),
                    a.checked_rem(b),
                    a.min(b),
                    a.max(b),
                )?,
            }
        }
        IntTy::S64 => {
            let (sa, sb) = (a as i64, b as i64);
            let wide = sa as i128 * sb as i128;
            match op {
                IntOp::MulHi => (wide >> 64) as u64,
                IntOp::Shl => a.checked_shl(shift).unwrap_or(0),
                IntOp::Shr => (sa >> shift.min(63)) as u64,
                _ => common64(
                    op,
                    a,
                    b,
                    (sb != 0).then(|| sa.wrapping_div(sb) as u64),
                    (sb != 0).then(|| sa.wrapping_rem(sb) as u64),
                    sa.min(sb) as u64,
                    sa.max(sb) as u64,
                )?,
            }
        }
    })
}

/// The operations whose bits do not depend on signedness (plus the precomputed ones that do).
fn common32(
    op: IntOp,
    a: u32,
    b: u32,
    div: Option<u32>,
    rem: Option<u32>,
    min: u32,
    max: u32,
) -> Option<u64> {
    Some(match op {
        IntOp::Add => a.wrapping_add(b),
        IntOp::Sub => a.wrapping_sub(b),
        IntOp::MulLo => a.wrapping_mul(b),
        IntOp::Div => div?,
        IntOp::Rem => rem?,
        IntOp::Min => min,
        IntOp::Max => max,
        IntOp::And => a & b,
        IntOp::Or => a | b,
        _ => a ^ b,
    } as u64)
}

/// As [`common32`], for 64-bit operands.
fn common64(
    op: IntOp,
    a: u64,
    b: u64,
    div: Option<u64>,
    rem: Option<u64>,
    min: u64,
    max: u64,
) -> Option<u64> {
    Some(match op {
        IntOp::Add => a.wrapping_add(b),
        IntOp::Sub => a.wrapping_sub(b),
        IntOp::MulLo => a.wrapping_mul(b),
        IntOp::Div => div?,
        IntOp::Rem => rem?,
        IntOp::Min => min,
        IntOp::Max => max,
        IntOp::And => a & b,
        IntOp::Or => a | b,
        _ => a ^ b,
    })
}

/// A unary integer operation (wrapping).
pub fn int_unary(op: IntUnOp, ty: IntTy, a: u64) -> u64 {
    let r = match (op, ty.is_64()) {
        (IntUnOp::Neg, false) => (a as u32).wrapping_neg() as u64,
        (IntUnOp::Abs, false) => (a as u32 as i32).wrapping_abs() as u32 as u64,
        (IntUnOp::Not, false) => !a,
        (IntUnOp::Neg, true) => a.wrapping_neg(),
        (IntUnOp::Abs, true) => (a as i64).wrapping_abs() as u64,
        (IntUnOp::Not, true) => !a,
    };
    if ty.is_64() { r } else { r & LOW }
}

/// `mad.lo/hi/wide`: the chosen part of `a * b`, plus `c` (wrapping).
pub fn mad(op: MadOp, ty: IntTy, a: u64, b: u64, c: u64) -> u64 {
    let part = match op {
        MadOp::Lo => IntOp::MulLo,
        MadOp::Hi => IntOp::MulHi,
        MadOp::Wide => IntOp::MulWide,
    };
    let product = int_binary(part, ty, a, b).unwrap_or(0);
    if op == MadOp::Wide || ty.is_64() {
        product.wrapping_add(c)
    } else {
        product.wrapping_add(c) & LOW
    }
}

/// A binary f32 operation. `min`/`max` return the non-NaN operand when one is NaN and order
/// -0 below +0, as the hardware does.
#[inline]
pub fn f32_binary(op: FOp, a: u64, b: u64) -> u64 {
    let (x, y) = (f(a), f(b));
    bits(match op {
        FOp::Add => x + y,
        FOp::Sub => x - y,
        FOp::Mul => x * y,
        FOp::Div => x / y,
        FOp::Min | FOp::Max if x.is_nan() => y,
        FOp::Min | FOp::Max if y.is_nan() => x,
        FOp::Min if x == y => f32::from_bits(x.to_bits() | y.to_bits()),
        FOp::Max if x == y => f32::from_bits(x.to_bits() & y.to_bits()),
        FOp::Min => x.min(y),
        FOp::Max => x.max(y),
    })
}

/// A unary f32 operation; the `.approx` ones computed exactly.
pub fn f32_unary(op: FUnOp, a: u64) -> u64 {
    let x = f(a);
    bits(match op {
        FUnOp::Neg => -x,
        FUnOp::Abs => x.abs(),
        FUnOp::Sqrt => x.sqrt(),
        FUnOp::Rcp => 1.0 / x,
        FUnOp::Rsqrt => 1.0 / x.sqrt(),
        FUnOp::Ex2 => x.exp2(),
        FUnOp::Lg2 => x.log2(),
    })
}

/// `fma.rn.f32`.
pub fn fma(a: u64, b: u64, c: u64) -> u64 {
    bits(f(a).mul_add(f(b), f(c)))
}

/// `setp`: the comparison's truth as 0 or 1.
#[inline]
pub fn compare(cmp: Cmp, ty: CmpTy, a: u64, b: u64) -> u64 {
    let truth = match ty {
        CmpTy::F32 => {
            let (x, y) = (f(a), f(b));
            let unordered = x.is_nan() || y.is_nan();
            match cmp {
                Cmp::Eq => x == y,
                Cmp::Ne => !unordered && x != y,
                Cmp::Lt => x < y,
                Cmp::Le => x <= y,
                Cmp::Gt => x > y,
                Cmp::Ge => x >= y,
                Cmp::Equ => unordered || x == y,
                Cmp::Neu => x != y,
                Cmp::Ltu => unordered || x < y,
                Cmp::Leu => unordered || x <= y,
                Cmp::Gtu => unordered || x > y,
                Cmp::Geu => unordered || x >= y,
                Cmp::Num => !unordered,
                Cmp::Nan => unordered,
            }
        }
        CmpTy::Int(t) => {
            let ord = match t {
                IntTy::U32 => (a as u32).cmp(&(b as u32)),
                IntTy::S32 => (a as u32 as i32).cmp(&(b as u32 as i32)),
                IntTy::U64 => a.cmp(&b),
                IntTy::S64 => (a as i64).cmp(&(b as i64)),
            };
            match cmp {
                Cmp::Eq => ord.is_eq(),
                Cmp::Ne => ord.is_ne(),
                Cmp::Lt => ord.is_lt(),
                Cmp::Le => ord.is_le(),
                Cmp::Gt => ord.is_gt(),
                _ => ord.is_ge(),
            }
        }
    };
    truth as u64
}

fn round(r: Round, x: f32) -> f32 {
    match r {
        Round::Zero => x.trunc(),
        Round::Down => x.floor(),
        Round::Up => x.ceil(),
        Round::NearestEven => x.round_ties_even(),
    }
}

/// `cvt`. Float to integer saturates and maps NaN to 0 (Rust's `as` does both).
pub fn convert(cvt: Cvt, a: u64) -> u64 {
    match cvt {
        Cvt::IntToF32(from) => bits(match from {
            IntTy::U32 => a as u32 as f32,
            IntTy::S32 => a as u32 as i32 as f32,
            IntTy::U64 => a as f32,
            IntTy::S64 => a as i64 as f32,
        }),
        Cvt::F32ToInt(r, to) => {
            let x = round(r, f(a));
            match to {
                IntTy::U32 => x as u32 as u64,
                IntTy::S32 => x as i32 as u32 as u64,
                IntTy::U64 => x as u64,
                IntTy::S64 => x as i64 as u64,
            }
        }
        Cvt::F32Round(r) => bits(round(r, f(a))),
        Cvt::Int { from, to } => {
            let v = match from {
                IntTy::U32 => a & LOW,
                IntTy::S32 => a as u32 as i32 as i64 as u64,
                _ => a,
            };
            if to.is_64() { v } else { v & LOW }
        }
    }
}

/// An atomic's new memory value from the `old` one and the operand `b` (32-bit).
pub fn atomic(op: AtomOp, old: u32, b: u64) -> u32 {
    match op {
        AtomOp::AddF32 => (f32::from_bits(old) + f(b)).to_bits(),
        AtomOp::AddU32 => old.wrapping_add(b as u32),
        AtomOp::MaxU32 => old.max(b as u32),
    }
}
