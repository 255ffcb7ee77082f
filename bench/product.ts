// The product as users run it: the compiled modules in dist/ (`npm start` runs those).
// A bench that measures a server runs them, not the sources transformed on load: the
// loader's transform adds work per function created (it names each closure) that the
// product does not do. `ensureBuilt` compiles dist/ once per bench run.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

let built = false;

/** Compiles the product into dist/ (tsc, as `npm run build`), once per process: the bench measures what is in the tree. */
export function ensureBuilt(): void {
  if (built) return;
  built = true;
  execFileSync(process.execPath, [fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url)), "-p", "tsconfig.json"], { cwd: root, stdio: "inherit" });
}

/** A compiled module of the product, typed as its source (`import(...)` of the path under src/). */
export function product<T>(path: string): Promise<T> {
  return import(new URL(`../dist/${path}`, import.meta.url).href) as Promise<T>;
}
