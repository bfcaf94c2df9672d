// Hash routes (`#/problems/sum`): the API owns the server's paths.
import { useEffect, useState } from "react";

export type Route =
  | { page: "playground" }
  | { page: "problems" }
  | { page: "problem"; id: string }
  | { page: "submissions"; problem?: string; verdict?: string }
  | { page: "submission"; id: string }
  | { page: "profile" }
  | { page: "admin" }
  | { page: "login" }
  | { page: "missing"; path: string };

export function parseRoute(hash: string): Route {
  const [path, qs] = hash.replace(/^#/, "").split("?");
  const q = new URLSearchParams(qs ?? "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case undefined:
    case "playground":
      return { page: "playground" };
    case "problems":
      return parts[1] ? { page: "problem", id: parts[1] } : { page: "problems" };
    case "submissions":
      return parts[1]
        ? { page: "submission", id: parts[1] }
        : { page: "submissions", problem: q.get("problem") ?? undefined, verdict: q.get("verdict") ?? undefined };
    case "profile":
      return { page: "profile" };
    case "admin":
      return { page: "admin" };
    case "login":
      return { page: "login" };
    default:
      return { page: "missing", path };
  }
}

export function href(route: Route): string {
  switch (route.page) {
    case "playground":
      return "#/playground";
    case "problems":
      return "#/problems";
    case "problem":
      return `#/problems/${encodeURIComponent(route.id)}`;
    case "submissions": {
      const q = new URLSearchParams();
      if (route.problem) q.set("problem", route.problem);
      if (route.verdict) q.set("verdict", route.verdict);
      const s = q.toString();
      return `#/submissions${s ? `?${s}` : ""}`;
    }
    case "submission":
      return `#/submissions/${encodeURIComponent(route.id)}`;
    case "profile":
      return "#/profile";
    case "admin":
      return "#/admin";
    case "login":
      return "#/login";
    case "missing":
      return `#${route.path}`;
  }
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}
