//! `mart audit`: runs the gradient-masking checks on a checkpoint and writes `audit.json` and
//! `eps_sweep.svg` into the output folder.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::audit::{AuditReport, AuditSettings, audit, plot_eps_sweep};
use crate::cli::AuditArgs;
use crate::commands::evaluate::load;
use crate::progress::activity_spinner;

/// What `mart audit` produced.
pub struct AuditOutcome {
    /// The measurements and verdicts.
    pub report: AuditReport,
    /// The folder holding `audit.json` and `eps_sweep.svg`.
    pub out: PathBuf,
}

/// Runs `mart audit`: loads the checkpoint (and surrogate), measures, writes the report.
pub fn run_audit(args: &AuditArgs, progress: bool) -> Result<AuditOutcome> {
    if args.spsa_steps == 0 || args.spsa_directions == 0 || args.spsa_limit == 0 {
        bail!("--spsa-steps, --spsa-directions and --spsa-limit must be positive");
    }
    let loaded = load(&args.target)?;
    let out = args.out.clone().unwrap_or_else(|| {
        args.target
            .checkpoint
            .parent()
            .map_or_else(|| PathBuf::from("audit"), |dir| dir.join("audit"))
    });
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create the audit folder {}", out.display()))?;
    let bar = activity_spinner(progress);
    let report = audit(
        &loaded,
        AuditSettings {
            batch: args.target.batch_size,
            seed: args.target.seed,
            spsa_limit: args.spsa_limit,
            spsa_steps: args.spsa_steps,
            spsa_directions: args.spsa_directions,
            max_autoattack_drop: args.max_autoattack_drop,
            sweep_floor: args.sweep_floor,
        },
        |what, n| {
            bar.set_message(what.to_string());
            bar.inc(n as u64);
        },
    );
    bar.finish_and_clear();
    let json = out.join("audit.json");
    std::fs::write(&json, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {}", json.display()))?;
    plot_eps_sweep(
        &out.join("eps_sweep.svg"),
        &report.eps_sweep,
        report.eps,
        &format!("{}: accuracy against eps", args.target.checkpoint.display()),
    )?;
    Ok(AuditOutcome { report, out })
}
