//! Isolation as results record it: the layers a run had, and the profiles
//! (sets of layers) a host offers.

use serde::{Deserialize, Serialize};

/// One isolation mechanism, as recorded in every result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    UserNamespace,
    PidNamespace,
    NetworkNamespace,
    MountNamespace,
    IpcNamespace,
    UtsNamespace,
    PivotRoot,
    CgroupMemory,
    CgroupPids,
    Rlimits,
    NoNewPrivs,
    NoCapabilities,
    UnprivilegedUid,
    Seccomp,
    Landlock,
    ProcessGroup,
    ScrubbedEnvironment,
    ScratchDirectory,
    /// The runner totals a run's memory and scratch over all its processes
    /// and files and ends it past a limit (the restricted profile's stand-in
    /// for cgroups and a private tmpfs; see `meter`).
    RunTotals,
}

impl Layer {
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// How much isolation a host gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Unprivileged uid, rlimits, seccomp, Landlock, process group (Fargate).
    Restricted,
    /// Namespaces, a private root, cgroups and everything above.
    Full,
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "full" => Ok(Profile::Full),
            "restricted" => Ok(Profile::Restricted),
            _ => Err(format!("unknown isolation profile {s:?} (full|restricted)")),
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Profile::Full => "full",
            Profile::Restricted => "restricted",
        })
    }
}
