// What every service of the shell shares: the store, the clock, the policy registry,
// and where committed states go (the decision index and listeners). Built once by the
// composition root (src/standing.ts).
import type { Store } from "../store/types.js";
import type { Clock } from "../time.js";
import type { Applied } from "./evaluation.js";
import type { PolicyRegistry } from "./policies.js";

export interface Shell {
  readonly store: Store;
  readonly clock: Clock;
  readonly policies: PolicyRegistry;
  /** Called after commit with every state this process wrote. */
  readonly applied: Applied;
}
