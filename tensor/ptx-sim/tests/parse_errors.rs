//! PTX the simulator must refuse at load, as ptxas does, with an error naming the module and
//! the line.

mod common;

use common::*;

static BROKEN: PtxModule = PtxModule::new("sim_test_broken", broken_ptx);

/// Deliberately invalid: line 8 of the module has an opcode outside the subset.
fn broken_ptx() -> String {
    PTX_HEADER.to_string()
        + ".visible .entry broken(.param .u64 out)\n{\n    .reg .b32 %r<2>;\n\
           \x20   frobnicate.u32 %r1, %r0;\n    ret;\n}\n"
}

static EXTERN_INSIDE: PtxModule = PtxModule::new("sim_test_extern_inside", extern_inside_ptx);

/// Deliberately invalid: ptxas only accepts `.extern .shared` at module scope.
fn extern_inside_ptx() -> String {
    PTX_HEADER.to_string()
        + ".visible .entry inside()\n{\n    .extern .shared .align 16 .b8 dyn[];\n    ret;\n}\n"
}

#[test]
fn sim_parse_error_names_module_and_line() {
    let sim = SimDevice::new();
    let out = scratch(&sim, 1);
    match launch(&sim, &BROKEN, "broken", one_thread(), &[ptr(&out)]) {
        Err(SimError::Ptx { module, message }) => {
            assert_eq!(module, "sim_test_broken");
            assert!(message.contains("line 8"), "{message}");
            assert!(message.contains("frobnicate"), "{message}");
        }
        other => panic!("expected a PTX error, got {other:?}"),
    }
    match launch(&sim, &EXTERN_INSIDE, "inside", one_thread(), &[]) {
        Err(SimError::Ptx { message, .. }) => {
            assert!(
                message.contains("line 7") && message.contains("module scope"),
                "{message}"
            );
        }
        other => panic!("expected a PTX error, got {other:?}"),
    }
}

/// Statements the parser must reject (each is rejected by ptxas too), and a part of the message.
const REJECTED: &[(&str, &str)] = &[
    ("add.b32 %r1, %r1, %r2", "ptxas rejects"),
    ("and.u32 %r1, %r1, %r2", "ptxas rejects"),
    ("neg.u32 %r1, %r1", "ptxas rejects"),
    ("setp.lt.b32 %p1, %r1, %r2", "ptxas rejects"),
    ("mov.u64 %rd1, %r1", "`%r1` is declared B32"),
    ("mul.lo.u32 %r1, %r1, %rd1", "`%rd1` is declared B64"),
    ("shl.b64 %rd1, %rd1, %rd2", "`%rd2` is declared B64"),
    ("selp.u32 %r1, %r1, %r2, %r1", "needs a predicate"),
    ("add.f32 %f1, %f1, 1", "0fXXXXXXXX"),
    ("mov.u32 %r1, 0f3F800000", "f32 immediate"),
    ("ld.global.u32 %r1, [%rd1-4]", "expected `]`"),
    ("ld.global.f32 %f1, [%f2]", "cannot hold an address"),
    ("div.f32 %f1, %f1, %f2", "unsupported f32 form"),
    ("fma.f32 %f1, %f1, %f2, %f1", "expected `.rn`"),
    ("cvt.f32.u32 %f1, %r1", "expected `.rn`"),
    ("cvt.s32.f32 %r1, %f1", "needs .rzi"),
    ("@%r1 bra L", "not a .pred"),
    ("add.u32 %r9, %r1, %r2", "undeclared register `%r9`"),
    ("bra NOWHERE", "no label `NOWHERE`"),
    (
        "frobnicate.u32 %r1, %r1",
        "not in the simulator's PTX subset",
    ),
];

#[test]
fn sim_parser_rejects_what_ptxas_rejects_naming_the_line() {
    for (statement, why) in REJECTED {
        let text = format!(
            "{PTX_HEADER}.visible .entry k(.param .u64 a)\n{{\n    .reg .pred %p<2>;\n\
             \x20   .reg .b32 %r<3>;\n    .reg .f32 %f<3>;\n    .reg .b64 %rd<3>;\n\
             \x20   ld.param.u64 %rd1, [a];\n    {statement};\nL:\n    ret;\n}}\n"
        );
        let message = match ptx_sim::parse::parse_module(&text) {
            Err(message) => message,
            Ok(_) => panic!("`{statement}` was accepted"),
        };
        assert!(message.starts_with("line 12:"), "`{statement}`: {message}");
        assert!(message.contains(why), "`{statement}`: {message}");
    }
}
