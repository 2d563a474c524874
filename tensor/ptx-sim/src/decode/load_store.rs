//! Loads and stores: `ld.param`, `ld.global[.nc]`, `ld.shared`, `st.global`, `st.shared`, scalar
//! or `.v2`/`.v4`, each checked against the declared parameter or the register types.

use super::opcode::{Parts, Ty, mask_of};
use crate::operand::{Operand, count, dst, src};
use crate::program::{Addr, Op, Space, Src};
use crate::scope::Scope;

/// `ld.param`, `ld.global[.nc]`, `ld.shared`, `st.global`, `st.shared`, scalar or `.v2`/`.v4`.
pub(super) fn memory(load: bool, p: &Parts, ops: &[Operand], scope: &Scope) -> Result<Op, String> {
    let mods = p.mods.as_slice();
    let ty = match p.ty {
        Some(t @ (Ty::Int(_) | Ty::F32)) => t,
        _ => return Err("needs a 32- or 64-bit type".into()),
    };
    let class = p.class()?;
    let size = if mask_of(ty) == u64::MAX { 8 } else { 4 };
    count(ops, 2)?;
    let (addr_op, data_op) = if load {
        (&ops[1], &ops[0])
    } else {
        (&ops[0], &ops[1])
    };
    let (addr, name) = match addr_op {
        Operand::Addr(a, n) => (*a, n.as_deref()),
        _ => return Err("needs an address `[...]`".into()),
    };
    let (space, n) = match mods {
        ["param"] if load => {
            let name = name.ok_or("ld.param reads a parameter by name")?;
            let param = scope.param(name).ok_or(format!("no parameter `{name}`"))?;
            if param.size != size {
                return Err(format!("parameter `{name}` has {} bytes", param.size));
            }
            return Ok(Op::LdParam {
                d: dst(data_op, class)?,
                offset: param.offset.wrapping_add(addr.offset as u32),
                size,
            });
        }
        ["global"] | ["global", "nc"] if load => (Space::Global, 1),
        ["global", "nc", v] | ["global", v] if load && v.starts_with('v') => {
            (Space::Global, vec_len(v)?)
        }
        ["global"] => (Space::Global, 1),
        ["global", v] => (Space::Global, vec_len(v)?),
        ["shared"] => (Space::Shared, 1),
        ["shared", v] => (Space::Shared, vec_len(v)?),
        _ => return Err(format!("unsupported modifiers `.{}`", mods.join("."))),
    };
    if n > 1 && size != 4 {
        return Err("vectors are of 32-bit types only".into());
    }
    let addr = match name {
        None => addr,
        Some(name) if space == Space::Shared => Addr {
            base: None,
            offset: scope
                .shared(name)
                .ok_or(format!("`{name}` is not a shared array"))?
                .wrapping_add(addr.offset),
        },
        Some(name) => return Err(format!("`{name}` is not a global address")),
    };
    let items: Vec<Operand> = match data_op {
        Operand::Vector(items) if n > 1 => items.clone(),
        op if n == 1 => vec![op.clone()],
        _ => return Err(format!("needs {n} values in `{{...}}`")),
    };
    if items.len() != n as usize {
        return Err(format!("needs {n} values in `{{...}}`"));
    }
    if load {
        let mut d = [0; 4];
        for (slot, item) in d.iter_mut().zip(&items) {
            *slot = dst(item, class)?;
        }
        Ok(Op::Ld {
            space,
            size,
            d,
            n,
            addr,
        })
    } else {
        let mut a = [Src::Imm(0); 4];
        for (slot, item) in a.iter_mut().zip(&items) {
            *slot = src(item, class)?;
        }
        Ok(Op::St {
            space,
            size,
            a,
            n,
            addr,
        })
    }
}

fn vec_len(v: &str) -> Result<u8, String> {
    match v {
        "v2" => Ok(2),
        "v4" => Ok(4),
        _ => Err(format!("unsupported modifier `.{v}`")),
    }
}
