//! The operation kinds a decoded instruction carries: integer types and operations, f32
//! operations, `setp` comparisons, `cvt` roundings and conversions, atomics. [`crate::ops`]
//! computes each of them; [`crate::program::Op`] says which registers they read and write.

/// An integer type of an instruction. `.b32`/`.b64` behave as `.u32`/`.u64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntTy {
    /// `.u32` or `.b32`.
    U32,
    /// `.s32`.
    S32,
    /// `.u64` or `.b64`.
    U64,
    /// `.s64`.
    S64,
}

impl IntTy {
    /// True for the 64-bit types.
    pub fn is_64(self) -> bool {
        matches!(self, IntTy::U64 | IntTy::S64)
    }
    /// True for the signed types.
    pub fn is_signed(self) -> bool {
        matches!(self, IntTy::S32 | IntTy::S64)
    }
}

/// Binary integer operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntOp {
    /// `add`, wrapping.
    Add,
    /// `sub`, wrapping.
    Sub,
    /// `mul.lo`: the low half of the product.
    MulLo,
    /// `mul.hi`: the high half of the double-width product.
    MulHi,
    /// `mul.wide`: the full double-width product of 32-bit operands.
    MulWide,
    /// `div` (truncating; division by zero faults).
    Div,
    /// `rem` (sign of the dividend; division by zero faults).
    Rem,
    /// `min`.
    Min,
    /// `max`.
    Max,
    /// `and`.
    And,
    /// `or`.
    Or,
    /// `xor`.
    Xor,
    /// `shl` (amounts of at least the width give 0).
    Shl,
    /// `shr` (logical for unsigned, arithmetic for signed; amounts clamp to the width).
    Shr,
}

/// Unary integer operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntUnOp {
    /// `neg`, wrapping.
    Neg,
    /// `abs`, wrapping (`abs(MIN) == MIN`).
    Abs,
    /// `not`: bitwise complement.
    Not,
}

/// `mad.lo`, `mad.hi`, `mad.wide`: a multiply of the given half plus an addend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MadOp {
    /// Low half of the product plus `c`.
    Lo,
    /// High half of the product plus `c`.
    Hi,
    /// Double-width product of 32-bit operands plus a 64-bit `c`.
    Wide,
}

/// Binary f32 operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FOp {
    /// `add`.
    Add,
    /// `sub`.
    Sub,
    /// `mul`.
    Mul,
    /// `div.rn` and `div.approx` (both exact here).
    Div,
    /// `min` (the non-NaN operand when one is NaN).
    Min,
    /// `max` (the non-NaN operand when one is NaN).
    Max,
}

/// Unary f32 operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FUnOp {
    /// `neg`.
    Neg,
    /// `abs`.
    Abs,
    /// `sqrt.rn`.
    Sqrt,
    /// `rcp.rn`.
    Rcp,
    /// `rsqrt.approx`, computed as `1 / sqrt(x)`.
    Rsqrt,
    /// `ex2.approx`, computed as `exp2`.
    Ex2,
    /// `lg2.approx`, computed as `log2`.
    Lg2,
}

/// Comparisons of `setp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `eq`.
    Eq,
    /// `ne` (for floats: ordered, so false when either is NaN).
    Ne,
    /// `lt` (or `lo` for unsigned).
    Lt,
    /// `le` (or `ls`).
    Le,
    /// `gt` (or `hi`).
    Gt,
    /// `ge` (or `hs`).
    Ge,
    /// `equ`: equal or unordered.
    Equ,
    /// `neu`: not equal or unordered.
    Neu,
    /// `ltu`.
    Ltu,
    /// `leu`.
    Leu,
    /// `gtu`.
    Gtu,
    /// `geu`.
    Geu,
    /// `num`: neither is NaN.
    Num,
    /// `nan`: either is NaN.
    Nan,
}

/// The operand type of a `setp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpTy {
    /// An integer type.
    Int(IntTy),
    /// `.f32`.
    F32,
}

/// Rounding of a float-to-integer or float-to-float `cvt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    /// `.rzi`: towards zero.
    Zero,
    /// `.rmi`: towards minus infinity.
    Down,
    /// `.rpi`: towards plus infinity.
    Up,
    /// `.rni`: to nearest, ties to even.
    NearestEven,
}

/// The conversion a `cvt` performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cvt {
    /// Integer to f32, round to nearest even (`cvt.rn.f32.u32`).
    IntToF32(IntTy),
    /// f32 to integer with rounding, saturating, NaN to 0 (`cvt.rzi.s32.f32`).
    F32ToInt(Round, IntTy),
    /// f32 to an integral f32 (`cvt.rmi.f32.f32`).
    F32Round(Round),
    /// Between integer types: sign- or zero-extend by the source type, truncate to the
    /// destination width.
    Int {
        /// The source type.
        from: IntTy,
        /// The destination type.
        to: IntTy,
    },
}

/// Atomic read-modify-write operations on global memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtomOp {
    /// `add.f32`.
    AddF32,
    /// `add.u32`.
    AddU32,
    /// `max.u32`.
    MaxU32,
}
