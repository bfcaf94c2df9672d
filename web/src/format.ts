// How results read.

export const VERDICT_NAMES: Record<string, string> = {
  AC: "Accepted",
  WA: "Wrong answer",
  TLE: "Time limit exceeded",
  MLE: "Memory limit exceeded",
  OLE: "Output limit exceeded",
  RE: "Runtime error",
  CE: "Compilation error",
  IE: "Internal error",
  PA: "Partially accepted",
  OK: "Finished",
};

export function verdictName(v?: string | null): string {
  return v ? (VERDICT_NAMES[v] ?? v) : "—";
}

/// A CSS class for a verdict or status: good, bad, pending or neutral.
export function tone(v?: string | null): "good" | "bad" | "pending" | "neutral" {
  if (!v) return "neutral";
  if (v === "AC" || v === "OK" || v === "COMPLETED" || v === "saved") return "good";
  if (v === "QUEUED" || v === "STARTING" || v === "RUNNING") return "pending";
  if (v === "PA") return "neutral";
  return "bad";
}

export function ms(v?: number | null): string {
  if (v === undefined || v === null) return "—";
  return v < 1000 ? `${v} ms` : `${(v / 1000).toFixed(2)} s`;
}

export function kib(v?: number | null): string {
  if (v === undefined || v === null) return "—";
  return v < 1024 ? `${v} KiB` : `${(v / 1024).toFixed(1)} MiB`;
}

export function ago(at: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(at).toLocaleDateString();
}

/// What a pending job is waiting for, in words.
export function pendingText(status: string): string {
  switch (status) {
    case "QUEUED":
      return "Queued: waiting for a free runner…";
    case "STARTING":
      return "Starting a runner…";
    case "RUNNING":
      return "Running…";
    default:
      return status;
  }
}
