// Vite builds the dashboard from app/ into dist/, which the `web` binary
// serves. In development, `npm run dev` proxies the API to that binary
// (127.0.0.1:8080), so the page and the API share one origin as in production
// and the refresh cookie (Path=/api/auth, SameSite=Strict) is sent.
import { defineConfig } from "vite";

// Node's `process`, declared here rather than pulling in @types/node for one line.
declare const process: { env: Record<string, string | undefined> };

/** Where `web` listens (override with WATTLINE_WEB_URL). */
const backend = process.env.WATTLINE_WEB_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  server: {
    proxy: {
      "/api": { target: backend },
      "/.well-known": { target: backend },
    },
  },
  preview: {
    proxy: {
      "/api": { target: backend },
      "/.well-known": { target: backend },
    },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // uPlot is split into its own chunk, loaded only by pages with charts.
    chunkSizeWarningLimit: 200,
  },
});
