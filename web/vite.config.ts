import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// `coderun serve` serves web/dist at /; during `npm run dev` the API is
// proxied to a local `coderun serve` (CODERUN_API, default :8080).
const api = process.env.CODERUN_API ?? "http://127.0.0.1:8080";
const apiPaths = [
  "/health", "/languages", "/problems", "/runs", "/submissions", "/me", "/sessions",
  "/imports", "/admin", "/metrics", "/config.json", "/auth", "/openapi.json",
];

export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", sourcemap: false, chunkSizeWarningLimit: 1500 },
  server: { proxy: Object.fromEntries(apiPaths.map((p) => [p, api])) },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
