//! Who this process is in a data-parallel job: its rank, the world size, its GPU on the node and
//! where rank 0 listens, read from the variables `torchrun` or Slurm's `srun` set.

use anyhow::{Context, Result, bail};
use tensor::Device;

/// Base of the rendezvous port derived from the Slurm job id when MASTER_PORT is unset.
const SLURM_PORT_BASE: u64 = 20_000;
/// How many ports above the base the derived port may lie.
const SLURM_PORT_SPAN: u64 = 20_000;

/// The launcher that started this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launcher {
    /// `torchrun` (or anything setting RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT).
    Torchrun,
    /// Slurm's `srun` (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID).
    Slurm,
}

/// This process's place in a job of several processes, one per GPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// Which launcher's variables it was read from.
    pub launcher: Launcher,
    /// This process's rank, from 0.
    pub rank: usize,
    /// Number of processes.
    pub world: usize,
    /// This process's rank on its node: the GPU it takes.
    pub local_rank: usize,
    /// Host where rank 0 listens for the rendezvous.
    pub master_addr: String,
    /// Port where rank 0 listens for the rendezvous.
    pub master_port: u16,
}

impl Launch {
    /// The launch described by this process's environment; `None` for a single process (no
    /// launcher variables, or a world of 1), which trains exactly as without a launcher.
    pub fn from_env() -> Result<Option<Launch>> {
        Launch::from_vars(|name| std::env::var(name).ok())
    }

    /// As [`Launch::from_env`], reading variables through `var`. torchrun's WORLD_SIZE wins
    /// over Slurm's variables, so `torchrun` inside a Slurm allocation works.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Launch>> {
        if let Some(world) = var("WORLD_SIZE") {
            let world = count("WORLD_SIZE", &world)?;
            if world == 1 {
                return Ok(None);
            }
            let need = |name: &str| {
                var(name).with_context(|| {
                    format!(
                        "WORLD_SIZE={world} is set (a torchrun-style launch) but {name} is missing: \
                         set RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT too, or unset WORLD_SIZE \
                         to train in one process"
                    )
                })
            };
            let launch = Launch {
                launcher: Launcher::Torchrun,
                rank: index("RANK", &need("RANK")?)?,
                world,
                local_rank: index("LOCAL_RANK", &need("LOCAL_RANK")?)?,
                master_addr: address(&need("MASTER_ADDR")?)?,
                master_port: port("MASTER_PORT", &need("MASTER_PORT")?)?,
            };
            return launch.checked().map(Some);
        }
        let Some(tasks) = var("SLURM_NTASKS") else {
            return Ok(None);
        };
        let world = count("SLURM_NTASKS", &tasks)?;
        if world == 1 {
            return Ok(None);
        }
        let need = |name: &str| {
            var(name).with_context(|| {
                format!(
                    "SLURM_NTASKS={world} is set (a Slurm launch) but {name} is missing: start \
                     mart with srun, which sets SLURM_PROCID and SLURM_LOCALID"
                )
            })
        };
        let master_addr = match var("MASTER_ADDR") {
            Some(addr) => address(&addr)?,
            None => {
                let list = [
                    "SLURM_STEP_NODELIST",
                    "SLURM_JOB_NODELIST",
                    "SLURM_NODELIST",
                ]
                .into_iter()
                .find_map(&var)
                .context(
                    "a Slurm launch without MASTER_ADDR needs SLURM_JOB_NODELIST to find rank 0's \
                         node: set MASTER_ADDR to the first node's host name",
                )?;
                first_host(&list)?
            }
        };
        let master_port = match var("MASTER_PORT") {
            Some(p) => port("MASTER_PORT", &p)?,
            None => {
                let job = need("SLURM_JOB_ID")?;
                let job: u64 = job.trim().parse().with_context(|| {
                    format!("SLURM_JOB_ID={job:?} is not a number: set MASTER_PORT instead")
                })?;
                (SLURM_PORT_BASE + job % SLURM_PORT_SPAN) as u16
            }
        };
        let launch = Launch {
            launcher: Launcher::Slurm,
            rank: index("SLURM_PROCID", &need("SLURM_PROCID")?)?,
            world,
            local_rank: index("SLURM_LOCALID", &need("SLURM_LOCALID")?)?,
            master_addr,
            master_port,
        };
        launch.checked().map(Some)
    }

    /// The CUDA ordinal this process trains on: its local rank, modulo the `visible` GPUs (a
    /// launcher that gives each task one GPU through CUDA_VISIBLE_DEVICES leaves it cuda:0).
    pub fn ordinal(&self, visible: usize) -> usize {
        self.local_rank % visible.max(1)
    }

    /// The device this process trains on when `--device` asked for `asked`: `cuda` (or `auto`
    /// finding a GPU) becomes cuda:[`Launch::ordinal`] among the `visible` GPUs. Anything else
    /// is refused: the replicas talk through NCCL, which needs one CUDA GPU each.
    pub fn device(&self, asked: Device, visible: usize) -> Result<Device> {
        match asked {
            Device::Cuda(0) => Ok(Device::Cuda(self.ordinal(visible))),
            Device::Cuda(n) => bail!(
                "--device cuda:{n} in a job of {} processes: pass --device cuda, and each process \
                 takes cuda:LOCAL_RANK (modulo the GPUs it sees)",
                self.world
            ),
            other => bail!(
                "{} processes were launched (WORLD_SIZE or SLURM_NTASKS), but data-parallel \
                 training runs on CUDA GPUs through NCCL and --device is {other}: pass --device \
                 cuda, or start one process",
                self.world
            ),
        }
    }

    /// The variables' names for messages: `RANK` or `SLURM_PROCID`, and so on.
    fn names(&self) -> (&'static str, &'static str, &'static str) {
        match self.launcher {
            Launcher::Torchrun => ("RANK", "WORLD_SIZE", "LOCAL_RANK"),
            Launcher::Slurm => ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"),
        }
    }

    fn checked(self) -> Result<Launch> {
        let (rank, world, local) = self.names();
        if self.rank >= self.world {
            bail!(
                "{rank}={} is not below {world}={}: ranks run from 0 to {}",
                self.rank,
                self.world,
                self.world - 1
            );
        }
        if self.local_rank >= self.world {
            bail!(
                "{local}={} is not below {world}={}",
                self.local_rank,
                self.world
            );
        }
        Ok(self)
    }
}

/// A world size: a whole number of at least 1.
fn count(name: &str, text: &str) -> Result<usize> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => bail!("{name}={text:?} is not a number of processes (a whole number of at least 1)"),
    }
}

/// A rank: a whole number from 0.
fn index(name: &str, text: &str) -> Result<usize> {
    text.trim()
        .parse::<usize>()
        .ok()
        .with_context(|| format!("{name}={text:?} is not a rank (a whole number from 0)"))
}

fn port(name: &str, text: &str) -> Result<u16> {
    match text.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => bail!("{name}={text:?} is not a TCP port (1 to 65535)"),
    }
}

fn address(text: &str) -> Result<String> {
    let text = text.trim();
    if text.is_empty() || text.contains(char::is_whitespace) {
        bail!("MASTER_ADDR={text:?} is not a host name or address");
    }
    Ok(text.to_string())
}

/// The first host of a Slurm host list: `gpu[003-005,010],cpu1` -> `gpu003`.
pub fn first_host(list: &str) -> Result<String> {
    let bad = || format!("cannot read the Slurm node list {list:?}: set MASTER_ADDR");
    let list = list.trim();
    let (prefix, rest) = match list.find(['[', ',']) {
        Some(i) if list.as_bytes()[i] == b'[' => (&list[..i], Some(&list[i + 1..])),
        Some(i) => (&list[..i], None),
        None => (list, None),
    };
    if prefix.is_empty() {
        bail!(bad());
    }
    let Some(rest) = rest else {
        return Ok(prefix.to_string());
    };
    let close = rest.find(']').with_context(bad)?;
    let first = rest[..close].split([',', '-']).next().unwrap_or("");
    if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
        bail!(bad());
    }
    // A suffix after the brackets belongs to every host (`node[1-2]-ib`), up to the next host.
    let suffix = rest[close + 1..].split(',').next().unwrap_or("");
    Ok(format!("{prefix}{first}{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn launch(vars: &[(&str, &str)]) -> Result<Option<Launch>> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Launch::from_vars(|name| vars.get(name).cloned())
    }

    fn error(vars: &[(&str, &str)]) -> String {
        format!("{:#}", launch(vars).unwrap_err())
    }

    const TORCHRUN: [(&str, &str); 5] = [
        ("RANK", "3"),
        ("WORLD_SIZE", "8"),
        ("LOCAL_RANK", "3"),
        ("MASTER_ADDR", "10.0.0.1"),
        ("MASTER_PORT", "29500"),
    ];

    #[test]
    fn torchrun_variables_are_read() {
        let got = launch(&TORCHRUN).unwrap().unwrap();
        assert_eq!(
            got,
            Launch {
                launcher: Launcher::Torchrun,
                rank: 3,
                world: 8,
                local_rank: 3,
                master_addr: "10.0.0.1".into(),
                master_port: 29500,
            }
        );
        assert_eq!(got.ordinal(8), 3);
        // One GPU visible per task (CUDA_VISIBLE_DEVICES): always cuda:0.
        assert_eq!(got.ordinal(1), 0);
    }

    #[test]
    fn cuda_maps_to_the_local_rank_and_other_devices_are_refused() {
        let got = launch(&TORCHRUN).unwrap().unwrap();
        assert_eq!(got.device(Device::Cuda(0), 8).unwrap(), Device::Cuda(3));
        assert_eq!(got.device(Device::Cuda(0), 2).unwrap(), Device::Cuda(1));
        let message = format!("{:#}", got.device(Device::Cuda(2), 8).unwrap_err());
        assert!(message.contains("pass --device cuda"), "{message}");
        let message = format!("{:#}", got.device(Device::Cpu, 8).unwrap_err());
        assert!(message.contains("--device is cpu"), "{message}");
    }

    #[test]
    fn no_launcher_or_a_world_of_one_is_a_single_process() {
        assert_eq!(launch(&[]).unwrap(), None);
        assert_eq!(launch(&[("WORLD_SIZE", "1")]).unwrap(), None);
        assert_eq!(
            launch(&[("SLURM_NTASKS", "1"), ("SLURM_PROCID", "0")]).unwrap(),
            None
        );
    }

    #[test]
    fn each_missing_torchrun_variable_is_named() {
        for missing in ["RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"] {
            let vars: Vec<_> = TORCHRUN
                .into_iter()
                .filter(|(k, _)| *k != missing)
                .collect();
            let message = error(&vars);
            assert!(
                message.contains(&format!("but {missing} is missing")),
                "{message}"
            );
        }
    }

    #[test]
    fn invalid_values_are_refused_with_the_variable() {
        let with = |name: &str, value: &'static str| {
            let mut vars = TORCHRUN.to_vec();
            vars.retain(|(k, _)| *k != name);
            vars.push((name, value));
            error(&vars)
        };
        assert!(with("WORLD_SIZE", "0").contains("WORLD_SIZE=\"0\" is not a number"));
        assert!(with("WORLD_SIZE", "eight").contains("WORLD_SIZE=\"eight\""));
        assert!(with("RANK", "-1").contains("RANK=\"-1\" is not a rank"));
        assert!(with("RANK", "8").contains("RANK=8 is not below WORLD_SIZE=8"));
        assert!(with("LOCAL_RANK", "9").contains("LOCAL_RANK=9 is not below"));
        assert!(with("MASTER_PORT", "70000").contains("MASTER_PORT=\"70000\" is not a TCP port"));
        assert!(with("MASTER_PORT", "0").contains("is not a TCP port"));
        assert!(with("MASTER_ADDR", " ").contains("MASTER_ADDR"));
    }

    #[test]
    fn slurm_variables_are_read_and_the_master_derived() {
        let got = launch(&[
            ("SLURM_PROCID", "5"),
            ("SLURM_NTASKS", "16"),
            ("SLURM_LOCALID", "1"),
            ("SLURM_JOB_NODELIST", "gpu[007-008]"),
            ("SLURM_JOB_ID", "123456"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            got,
            Launch {
                launcher: Launcher::Slurm,
                rank: 5,
                world: 16,
                local_rank: 1,
                master_addr: "gpu007".into(),
                master_port: (20_000 + 123_456 % 20_000) as u16,
            }
        );
        // MASTER_ADDR and MASTER_PORT, when set, win over the derived ones.
        let got = launch(&[
            ("SLURM_PROCID", "0"),
            ("SLURM_NTASKS", "2"),
            ("SLURM_LOCALID", "0"),
            ("MASTER_ADDR", "head"),
            ("MASTER_PORT", "4000"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((got.master_addr.as_str(), got.master_port), ("head", 4000));
    }

    #[test]
    fn slurm_errors_name_what_is_missing() {
        let base = [("SLURM_NTASKS", "2"), ("SLURM_PROCID", "1")];
        assert!(error(&base).contains("MASTER_ADDR"));
        let mut vars = base.to_vec();
        vars.push(("SLURM_JOB_NODELIST", "n1"));
        assert!(error(&vars).contains("SLURM_JOB_ID is missing"));
        vars.push(("SLURM_JOB_ID", "7"));
        assert!(error(&vars).contains("SLURM_LOCALID is missing"));
        vars.push(("SLURM_LOCALID", "x"));
        assert!(error(&vars).contains("SLURM_LOCALID=\"x\" is not a rank"));
        let mut vars = base.to_vec();
        vars.extend([("SLURM_PROCID", "2"), ("SLURM_LOCALID", "0")]);
        vars.retain(|kv| *kv != ("SLURM_PROCID", "1"));
        vars.extend([("MASTER_ADDR", "h"), ("MASTER_PORT", "1234")]);
        assert!(error(&vars).contains("SLURM_PROCID=2 is not below SLURM_NTASKS=2"));
    }

    #[test]
    fn the_first_host_of_a_slurm_node_list() {
        assert_eq!(first_host("node17").unwrap(), "node17");
        assert_eq!(first_host("a01,b02").unwrap(), "a01");
        assert_eq!(first_host("gpu[003-005,010],cpu1").unwrap(), "gpu003");
        assert_eq!(first_host("gpu[12,14]").unwrap(), "gpu12");
        assert_eq!(first_host("node[1-2]-ib,x").unwrap(), "node1-ib");
        for bad in ["", "[1-2]", "gpu[", "gpu[a-b]"] {
            assert!(first_host(bad).is_err(), "{bad}");
        }
    }
}
