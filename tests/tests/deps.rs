//! The dependency edges between workspace crates are exactly the ones `design.md` allows:
//! `base ← wal`, `base ← lsm`, `lsm ← compaction`, `{base, wal, lsm, compaction} ← kvd`,
//! `kvd ← server`, `{kvd, lsm, server} ← tools`; `tests` and `benches` may use anything, and
//! nothing may use them. Normal and build dependencies count; dev-dependencies too, except
//! for `tests` and `benches`. A new workspace crate fails this test until it is placed here
//! (and in `design.md`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Each crate and the workspace crates it may depend on.
const ALLOWED: &[(&str, &[&str])] = &[
    ("kvd-base", &[]),
    ("kvd-wal", &["kvd-base"]),
    ("kvd-lsm", &["kvd-base"]),
    ("kvd-compaction", &["kvd-lsm"]),
    ("kvd", &["kvd-base", "kvd-wal", "kvd-lsm", "kvd-compaction"]),
    ("kvd-server", &["kvd"]),
    ("kvd-tools", &["kvd", "kvd-lsm", "kvd-server"]),
];

/// Crates that may depend on anything (and on which nothing may depend).
const UNRESTRICTED: &[&str] = &["kvd-tests", "kvd-benches"];

/// Edges that exist although `design.md` does not list them, each with why it is tolerated.
/// Each must still exist (a stale entry fails), so fixing one forces removing it here.
const KNOWN_DEVIATIONS: &[(&str, &str, &str)] = &[];

/// `(crate, dependency, kind)` for every dependency between workspace crates.
fn workspace_edges() -> (BTreeSet<String>, Vec<(String, String, String)>) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root)
        .output()
        .expect("run cargo metadata");
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let members: BTreeSet<String> =
        packages.iter().map(|p| p["name"].as_str().expect("package name").to_string()).collect();
    let mut edges = Vec::new();
    for p in packages {
        let from = p["name"].as_str().unwrap();
        for d in p["dependencies"].as_array().expect("dependencies") {
            let to = d["name"].as_str().expect("dependency name");
            if members.contains(to) {
                let kind = d["kind"].as_str().unwrap_or("normal").to_string();
                edges.push((from.to_string(), to.to_string(), kind));
            }
        }
    }
    (members, edges)
}

#[test]
fn workspace_dependency_edges_follow_the_design() {
    let (members, edges) = workspace_edges();
    let allowed: BTreeMap<&str, BTreeSet<&str>> =
        ALLOWED.iter().map(|(c, deps)| (*c, deps.iter().copied().collect())).collect();
    for m in &members {
        assert!(
            allowed.contains_key(m.as_str()) || UNRESTRICTED.contains(&m.as_str()),
            "workspace crate {m} has no place in the dependency rules (add it to design.md and this test)"
        );
    }
    let mut violations = Vec::new();
    let mut deviations_seen = BTreeSet::new();
    for (from, to, kind) in &edges {
        if UNRESTRICTED.contains(&to.as_str()) {
            violations.push(format!("{from} depends on {to} ({kind}); nothing may depend on {to}"));
            continue;
        }
        if UNRESTRICTED.contains(&from.as_str()) {
            continue;
        }
        if allowed[from.as_str()].contains(to.as_str()) {
            continue;
        }
        if let Some(d) = KNOWN_DEVIATIONS.iter().find(|(f, t, _)| f == from && t == to) {
            deviations_seen.insert((d.0, d.1));
            continue;
        }
        violations.push(format!("{from} depends on {to} ({kind}), which design.md does not allow"));
    }
    assert!(violations.is_empty(), "dependency rules broken:\n{}", violations.join("\n"));
    for (from, to, why) in KNOWN_DEVIATIONS {
        assert!(
            deviations_seen.contains(&(*from, *to)),
            "{from} no longer depends on {to}: remove it from KNOWN_DEVIATIONS ({why})"
        );
    }
}

#[test]
fn the_rules_have_no_cycles() {
    // Sanity of the table itself: following allowed edges never leads back.
    fn reaches(allowed: &BTreeMap<&str, Vec<&str>>, from: &str, target: &str, depth: usize) -> bool {
        depth < 16
            && allowed
                .get(from)
                .is_some_and(|ds| ds.iter().any(|d| *d == target || reaches(allowed, d, target, depth + 1)))
    }
    let allowed: BTreeMap<&str, Vec<&str>> = ALLOWED.iter().map(|(c, d)| (*c, d.to_vec())).collect();
    for (c, _) in ALLOWED {
        assert!(!reaches(&allowed, c, c, 0), "{c} can reach itself");
    }
}
