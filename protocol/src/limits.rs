//! Per-run resource limits: documented defaults and hard caps.

use serde::{Deserialize, Serialize};

/// What one sandboxed run may use. Every field has a default and a cap; a
/// request above a cap is refused (see [`Limits::validate`]), never clamped
/// silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// CPU time (user + system, all processes of the run), milliseconds.
    pub time_ms: u64,
    /// Wall-clock time, milliseconds. 0 derives it from `time_ms`.
    pub wall_time_ms: u64,
    /// Memory in MiB: the run's peak resident memory may not exceed it.
    pub memory_mb: u64,
    /// Processes and threads alive at once (the whole run, not per process).
    pub processes: u64,
    /// Bytes of stdout plus stderr kept; more is OLE and the run is killed.
    pub output_bytes: u64,
    /// Largest file the run may write, and size of its scratch directory, bytes.
    pub file_size_bytes: u64,
    /// Open file descriptors per process.
    pub open_files: u64,
    /// Stack size per process, MiB.
    pub stack_mb: u64,
}

impl Limits {
    /// Two seconds is the usual judge default; long enough for JVM start-up.
    pub const DEFAULT_TIME_MS: u64 = 2_000;
    /// One minute: anything longer belongs in a batch system, not a judge.
    pub const MAX_TIME_MS: u64 = 60_000;
    /// Wall time covers I/O and start-up: twice the CPU time plus one second.
    pub const fn derived_wall_ms(time_ms: u64) -> u64 {
        time_ms * 2 + 1_000
    }
    /// Three CPU minutes of wall clock is the most any run may hold a worker.
    pub const MAX_WALL_TIME_MS: u64 = 180_000;
    /// 256 MiB is the competitive-programming norm.
    pub const DEFAULT_MEMORY_MB: u64 = 256;
    /// 4 GiB: a 2-core worker must still fit a few runs at once.
    pub const MAX_MEMORY_MB: u64 = 4_096;
    /// Enough for runtimes with helper threads (JVM GC, Go, Node's libuv pool).
    pub const DEFAULT_PROCESSES: u64 = 64;
    /// A fork bomb stops here whatever the request.
    pub const MAX_PROCESSES: u64 = 512;
    /// 16 MiB of output is more than any judged answer needs.
    pub const DEFAULT_OUTPUT_BYTES: u64 = 16 << 20;
    /// Outputs are held in memory by the runner: cap them.
    pub const MAX_OUTPUT_BYTES: u64 = 256 << 20;
    /// 64 MiB of scratch files.
    pub const DEFAULT_FILE_SIZE_BYTES: u64 = 64 << 20;
    /// Scratch lives in memory (tmpfs) and counts against the host.
    pub const MAX_FILE_SIZE_BYTES: u64 = 1 << 30;
    /// Interpreters open dozens of files; 256 leaves room without inviting abuse.
    pub const DEFAULT_OPEN_FILES: u64 = 256;
    pub const MAX_OPEN_FILES: u64 = 4_096;
    /// Deep recursion (DFS on 10^6 nodes) is normal in judged solutions.
    pub const DEFAULT_STACK_MB: u64 = 64;

    /// The wall-clock limit in force.
    pub fn wall_ms(&self) -> u64 {
        if self.wall_time_ms == 0 {
            Self::derived_wall_ms(self.time_ms).min(Self::MAX_WALL_TIME_MS)
        } else {
            self.wall_time_ms
        }
    }

    /// Refuses any value that is zero or above its cap, naming the field.
    pub fn validate(&self) -> Result<(), LimitError> {
        let checks: [(&'static str, u64, u64); 8] = [
            ("time_ms", self.time_ms, Self::MAX_TIME_MS),
            ("memory_mb", self.memory_mb, Self::MAX_MEMORY_MB),
            ("processes", self.processes, Self::MAX_PROCESSES),
            ("output_bytes", self.output_bytes, Self::MAX_OUTPUT_BYTES),
            (
                "file_size_bytes",
                self.file_size_bytes,
                Self::MAX_FILE_SIZE_BYTES,
            ),
            ("open_files", self.open_files, Self::MAX_OPEN_FILES),
            ("stack_mb", self.stack_mb, self.memory_mb.max(1)),
            ("wall_time_ms", self.wall_ms(), Self::MAX_WALL_TIME_MS),
        ];
        for (field, value, max) in checks {
            if value == 0 || value > max {
                return Err(LimitError { field, value, max });
            }
        }
        if self.open_files < 16 {
            return Err(LimitError {
                field: "open_files",
                value: self.open_files,
                max: Self::MAX_OPEN_FILES,
            });
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            time_ms: Self::DEFAULT_TIME_MS,
            wall_time_ms: 0,
            memory_mb: Self::DEFAULT_MEMORY_MB,
            processes: Self::DEFAULT_PROCESSES,
            output_bytes: Self::DEFAULT_OUTPUT_BYTES,
            file_size_bytes: Self::DEFAULT_FILE_SIZE_BYTES,
            open_files: Self::DEFAULT_OPEN_FILES,
            stack_mb: Self::DEFAULT_STACK_MB,
        }
    }
}

/// Limits of a package's output validator, one test's check.
pub fn validator_limits() -> Limits {
    Limits {
        time_ms: 30_000,
        memory_mb: 2_048,
        output_bytes: 64 << 20,
        ..Limits::default()
    }
}

/// A limit outside its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limit {field} = {value} is outside 1..={max}")]
pub struct LimitError {
    pub field: &'static str,
    pub value: u64,
    pub max: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_wall_is_derived() {
        let l = Limits::default();
        l.validate().unwrap();
        assert_eq!(l.wall_ms(), 5_000);
    }

    #[test]
    fn caps_are_enforced_by_name() {
        let l = Limits {
            memory_mb: 10_000,
            ..Limits::default()
        };
        assert_eq!(l.validate().unwrap_err().field, "memory_mb");
        let l = Limits {
            time_ms: 0,
            ..Limits::default()
        };
        assert_eq!(l.validate().unwrap_err().field, "time_ms");
        let l = Limits {
            stack_mb: 512,
            memory_mb: 256,
            ..Limits::default()
        };
        assert_eq!(l.validate().unwrap_err().field, "stack_mb");
    }
}
