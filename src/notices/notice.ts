// A notice tells a subject that a restriction is coming, before it takes effect:
// what, why (which records), on what basis, from when, until when, how to dispute
// and how to recover. Built from the policy and the state alone (pure).
import type { MeasureState, SubjectState } from "../engine/types.js";
import type { CompiledPolicy, ListDef } from "../policy/types.js";
import { addDuration, humanDate, isoUtc } from "../time.js";

export interface RecoveryPath {
  readonly list: string;
  readonly kind: "leave-record" | "early-exit" | "expiry";
  readonly from: string | null;
  readonly text: string;
}

export interface NoticeBody {
  readonly subject: number;
  readonly policy: string;
  readonly measure: string;
  readonly context: string;
  readonly code: string;
  readonly basis: string | null;
  readonly effectiveFrom: string | null;
  readonly until: string | null;
  readonly because: readonly { source: string; id: string; type: string; occurredAt: string }[];
  readonly what: string;
  readonly howToDispute: string;
  readonly howToRecover: readonly RecoveryPath[];
}

/** The ways off one list for a membership, each with its date when it has one. */
export function recoveryPaths(policy: CompiledPolicy, list: ListDef, membership: SubjectState["lists"][number]): RecoveryPath[] {
  const tz = policy.timezone;
  const out: RecoveryPath[] = [];
  if (list.leave) {
    out.push({
      list: list.name,
      kind: "leave-record",
      from: null,
      text: `You leave ${list.name} as soon as a ${list.leave.on.join(" or ")} record${list.leave.when ? ` matching (${list.leave.when.source})` : ""} is on file — for example when the judgment is fulfilled.`,
    });
  }
  if (list.earlyExit && membership.since !== null) {
    const from = addDuration(Date.parse(membership.since), list.earlyExit, tz);
    out.push({ list: list.name, kind: "early-exit", from: isoUtc(from), text: `You may apply to leave ${list.name} from ${humanDate(from, tz)} (after ${list.earlyExit.iso} on the list).` });
  }
  if (membership.until !== null) {
    out.push({ list: list.name, kind: "expiry", from: membership.until, text: `Your entry on ${list.name} ends by itself on ${humanDate(Date.parse(membership.until), tz)}.` });
  }
  return out;
}

export function buildNotice(policy: CompiledPolicy, subjectId: number, state: SubjectState, m: MeasureState): NoticeBody {
  const tz = policy.timezone;
  const lists = state.lists.filter((l) => m.lists.includes(l.list));
  const because = lists.flatMap((l) => l.because);
  const paths = lists.flatMap((l) => {
    const def = policy.lists.get(l.list);
    return def ? recoveryPaths(policy, def, l) : [];
  });
  const from = m.since === null ? "now" : humanDate(Date.parse(m.since), tz);
  const until = m.until === null ? "further notice" : humanDate(Date.parse(m.until), tz);
  return {
    subject: subjectId,
    policy: policy.ref,
    measure: m.measure,
    context: m.context,
    code: m.code,
    basis: m.basis,
    effectiveFrom: m.since,
    until: m.until,
    because: because.map((b) => ({ source: b.source, id: b.id, type: b.type, occurredAt: b.occurredAt })),
    what: `From ${from} until ${until} you will be refused in ${m.context} (${m.measure}, code ${m.code}) because you are on ${m.lists.join(", ")}.`,
    howToDispute: `If a record named here is wrong, dispute it (standing dispute open, or POST /v1/disputes) giving your grounds. The source must answer within the deadline the policy sets for that record type; if it does not, the record stops counting and this measure lifts.`,
    howToRecover: paths,
  };
}
