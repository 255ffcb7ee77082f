// The CLI's one error path: what a command throws becomes exit 1 and one line (or a
// JSON error object under --json) when it is something an operator can act on. A full
// disk, a file-size limit or a read-only mount is such a thing: it used to end with a
// driver's stack trace and exit 70, and print nothing under --json.
import { isStandingError, type StandingError } from "../errors.js";
import { storageFailure } from "../store/failure.js";

/** The StandingError to report for `e`, or `e` itself when it is a bug (exit 70 with its stack). */
export function forOperator(e: unknown): StandingError | unknown {
  if (isStandingError(e)) return e;
  return storageFailure(e) ?? storageFailure((e as { cause?: unknown } | null)?.cause) ?? e;
}

/**
 * `standing --db X statement …`: options that every command takes may come before the
 * subcommand too. They are moved after it, where each command declares them.
 */
export function hoistCommonOptions(argv: readonly string[]): string[] {
  const head = argv.slice(0, 2);
  const rest = argv.slice(2);
  const moved: string[] = [];
  let i = 0;
  while (i < rest.length) {
    const a = rest[i] as string;
    if ((a === "--db" || a === "--store") && i + 1 < rest.length) {
      moved.push(a, rest[i + 1] as string);
      i += 2;
    } else if (a.startsWith("--db=") || a.startsWith("--store=") || a === "--json") {
      moved.push(a);
      i += 1;
    } else break;
  }
  if (moved.length === 0) return [...argv];
  const after = rest.slice(i);
  // After any `--`, words are arguments: the options go before it.
  const dashes = after.indexOf("--");
  return dashes === -1 ? [...head, ...after, ...moved] : [...head, ...after.slice(0, dashes), ...moved, ...after.slice(dashes)];
}
