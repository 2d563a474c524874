//! The decoded form of a PTX module: what the parser produces and the interpreter runs.
//!
//! Every operand is resolved ahead of time (register indices, immediates as bits, label targets
//! as instruction indices, shared array names as shared-window addresses), so that running an
//! instruction does no string work and no allocation.

use crate::kinds::{AtomOp, Cmp, CmpTy, Cvt, FOp, FUnOp, IntOp, IntTy, IntUnOp, MadOp};

/// Index of a register in a thread's register file. Slots `0..SPECIAL_REGS` hold the special
/// registers (`%tid.x` ...), filled in when a thread starts; declared registers follow.
pub type Reg = u32;

/// The special registers, in register-file order: `%tid`, `%ntid`, `%ctaid`, `%nctaid`, each
/// `.x .y .z`.
pub const SPECIALS: [&str; 12] = [
    "%tid.x",
    "%tid.y",
    "%tid.z",
    "%ntid.x",
    "%ntid.y",
    "%ntid.z",
    "%ctaid.x",
    "%ctaid.y",
    "%ctaid.z",
    "%nctaid.x",
    "%nctaid.y",
    "%nctaid.z",
];

/// Number of register slots reserved for the special registers.
pub const SPECIAL_REGS: u32 = SPECIALS.len() as u32;

/// Where shared memory appears in the address space that `mov` of a shared array name and
/// `ld.shared`/`st.shared` use. Non-zero so that a shared address used by `ld.global` (or a
/// bare offset used by `ld.shared`) faults instead of silently working; below 2^32 so that
/// `mov.u32` of an array name is exact, as on hardware.
pub const SHARED_BASE: u64 = 0x0100_0000;

/// A source operand: a register or an immediate (already as the register bits it stands for).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Src {
    /// The value of a register.
    Reg(Reg),
    /// A constant: integers sign-extended to 64 bits, f32 immediates as their IEEE bits.
    Imm(u64),
}

/// A memory address `[reg + imm]` or `[imm]` (a shared array name is already its address).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Addr {
    /// The base register, if any.
    pub base: Option<Reg>,
    /// Added to the base (wrapping).
    pub offset: u64,
}

/// The state space of a load or store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    /// Device memory allocated with `SimDevice::alloc`.
    Global,
    /// The block's shared memory.
    Shared,
}

/// A decoded instruction (its guard is in [`Instr`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `mov`: copy a value, keeping the low `mask` bits.
    Mov {
        /// Destination.
        d: Reg,
        /// Source.
        a: Src,
        /// All ones for 64-bit moves, `0xFFFF_FFFF` for 32-bit ones, 1 for predicates.
        mask: u64,
    },
    /// `ld.param`: read a kernel parameter.
    LdParam {
        /// Destination.
        d: Reg,
        /// Byte offset in the parameter block.
        offset: u32,
        /// 4 or 8 bytes.
        size: u32,
    },
    /// `ld.global`/`ld.shared`, scalar or vector.
    Ld {
        /// Which memory.
        space: Space,
        /// Bytes per element: 4 or 8.
        size: u32,
        /// Destination registers (the first `n` are used).
        d: [Reg; 4],
        /// Number of elements: 1, 2 or 4.
        n: u8,
        /// Where.
        addr: Addr,
    },
    /// `st.global`/`st.shared`, scalar or vector.
    St {
        /// Which memory.
        space: Space,
        /// Bytes per element: 4 or 8.
        size: u32,
        /// Values stored (the first `n` are used).
        a: [Src; 4],
        /// Number of elements: 1, 2 or 4.
        n: u8,
        /// Where.
        addr: Addr,
    },
    /// A binary integer operation.
    Int {
        /// Which.
        op: IntOp,
        /// Operand type (the source type for `mul.wide`).
        ty: IntTy,
        /// Destination.
        d: Reg,
        /// First operand.
        a: Src,
        /// Second operand.
        b: Src,
    },
    /// A unary integer operation.
    IntUn {
        /// Which.
        op: IntUnOp,
        /// Operand type.
        ty: IntTy,
        /// Destination.
        d: Reg,
        /// Operand.
        a: Src,
    },
    /// `mad.lo/hi/wide`.
    Mad {
        /// Which half of the product.
        op: MadOp,
        /// Operand type (of `a` and `b`).
        ty: IntTy,
        /// Destination.
        d: Reg,
        /// Multiplicand.
        a: Src,
        /// Multiplier.
        b: Src,
        /// Addend.
        c: Src,
    },
    /// `and/or/xor.pred` (as [`IntOp::And`] etc.) on predicates.
    Pred {
        /// `And`, `Or` or `Xor`.
        op: IntOp,
        /// Destination.
        d: Reg,
        /// First operand.
        a: Src,
        /// Second operand.
        b: Src,
    },
    /// `not.pred`.
    PredNot {
        /// Destination.
        d: Reg,
        /// Operand.
        a: Src,
    },
    /// A binary f32 operation.
    F32 {
        /// Which.
        op: FOp,
        /// Destination.
        d: Reg,
        /// First operand.
        a: Src,
        /// Second operand.
        b: Src,
    },
    /// A unary f32 operation.
    F32Un {
        /// Which.
        op: FUnOp,
        /// Destination.
        d: Reg,
        /// Operand.
        a: Src,
    },
    /// `fma.rn.f32`: `a * b + c` with one rounding.
    Fma {
        /// Destination.
        d: Reg,
        /// Multiplicand.
        a: Src,
        /// Multiplier.
        b: Src,
        /// Addend.
        c: Src,
    },
    /// `setp`: compare and set a predicate.
    Setp {
        /// The comparison.
        cmp: Cmp,
        /// Operand type.
        ty: CmpTy,
        /// Destination predicate.
        d: Reg,
        /// Left operand.
        a: Src,
        /// Right operand.
        b: Src,
    },
    /// `selp`: `d = p ? a : b`.
    Selp {
        /// Destination.
        d: Reg,
        /// Chosen when `p` is true.
        a: Src,
        /// Chosen when `p` is false.
        b: Src,
        /// The predicate.
        p: Src,
        /// Width mask as in [`Op::Mov`].
        mask: u64,
    },
    /// `cvt`.
    Cvt {
        /// The conversion.
        cvt: Cvt,
        /// Destination.
        d: Reg,
        /// Source.
        a: Src,
    },
    /// `atom.global` (with a destination for the old value) or `red.global` (without).
    Atom {
        /// The operation.
        op: AtomOp,
        /// Receives the old value (`atom`); `None` for `red`.
        d: Option<Reg>,
        /// Where.
        addr: Addr,
        /// The operand.
        b: Src,
    },
    /// `bra`: jump to an instruction index.
    Bra {
        /// Index of the target instruction.
        target: u32,
    },
    /// `bar.sync 0`.
    Bar,
    /// `ret` or `exit`.
    Exit,
}

/// An instruction with its guard and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Instr {
    /// `@%p` (`Some((p, true))`) or `@!%p` (`Some((p, false))`).
    pub guard: Option<(Reg, bool)>,
    /// What it does.
    pub op: Op,
    /// 1-based source line, for fault messages.
    pub line: u32,
}

/// A kernel parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// 4 or 8 bytes.
    pub size: u32,
    /// Byte offset in the parameter block.
    pub offset: u32,
    /// Declared `.f32` (a launch must pass `KernelArg::F32`, and only there).
    pub float: bool,
}

/// One `.entry`: everything a launch needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The kernel's name.
    pub name: String,
    /// Parameters in declaration order.
    pub params: Vec<Param>,
    /// Bytes of the parameter block.
    pub param_bytes: u32,
    /// Register slots per thread (special registers included).
    pub regs: u32,
    /// Bytes of static shared memory, already padded to the dynamic area's alignment: the
    /// dynamic (`.extern`) area starts here.
    pub static_shared: u32,
    /// The instructions; branch targets index into this.
    pub code: Vec<Instr>,
}

/// A parsed module: its entries and its text's lines (quoted in fault messages).
#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    /// The kernels.
    pub entries: Vec<Entry>,
    /// The source, one string per line.
    pub lines: Vec<String>,
}

impl Module {
    /// The entry called `name`.
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Source line `line` (1-based), trimmed, for messages.
    pub fn line_text(&self, line: u32) -> &str {
        self.lines
            .get((line as usize).wrapping_sub(1))
            .map_or("", |l| l.trim())
    }
}
