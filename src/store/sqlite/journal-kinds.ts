// What a journal entry is called. Row changes get a name an auditor reads ("record
// accepted", "key revoked") where the table is known, and `<op>:<table>` otherwise,
// so a table added later is journaled without touching this file. Each name is a SQL
// expression over NEW/OLD evaluated inside the trigger; `needs` lists the columns it
// reads, and the generic name is used when one of them is missing (a renamed column
// must never stop the store from opening).

export type RowOp = "insert" | "update" | "delete";

interface KindRule {
  readonly needs?: readonly string[];
  readonly insert?: string;
  readonly update?: string;
  readonly delete?: string;
}

export const rowKinds: Readonly<Record<string, KindRule>> = {
  meta: { insert: "'meta.set'", update: "'meta.set'" },
  policies: { insert: "'policy.published'" },
  catalogues: { insert: "'catalogue.adopted'" },
  policy_proposals: { needs: ["status"], insert: "'policy.proposed'", update: "'policy.' || coalesce(NEW.status, 'updated')" },
  subjects: { insert: "'subject.created'" },
  identifiers: { insert: "'identifier.linked'", delete: "'identifier.unlinked'" },
  records: {
    needs: ["retracts"],
    insert: "CASE WHEN NEW.retracts IS NULL THEN 'record.accepted' ELSE 'record.retracted' END",
  },
  quarantine: {
    needs: ["released_at"],
    insert: "'record.quarantined'",
    update: "CASE WHEN OLD.released_at IS NULL AND NEW.released_at IS NOT NULL THEN 'record.released' ELSE 'update:quarantine' END",
  },
  states: { insert: "'state.changed'", update: "'state.changed'" },
  keys: {
    needs: ["revoked_at"],
    insert: "'key.created'",
    update: "CASE WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN 'key.revoked' ELSE 'update:keys' END",
  },
  decisions: { insert: "'decision.logged'" },
  disputes: { needs: ["status"], insert: "'dispute.opened'", update: "'dispute.' || coalesce(NEW.status, 'updated')" },
  applications: { insert: "'application.made'" },
  dispute_actions: { insert: "'dispute.action'" },
  notices: { insert: "'notice.created'" },
  deliveries: { insert: "'notice.delivered-by'" },
  outbox: { insert: "'notice.queued'", update: "CASE WHEN OLD.delivered_at IS NULL AND NEW.delivered_at IS NOT NULL THEN 'notice.delivered' ELSE 'notice.attempted' END", needs: ["delivered_at"] },
};

/** The SQL expression naming an entry for `op` on `table` (whose columns are `columns`). */
export function kindExpr(table: string, op: RowOp, columns: readonly string[]): string {
  const generic = `'${op}:${table.replace(/'/g, "''")}'`;
  const rule = rowKinds[table];
  const expr = rule?.[op];
  if (!rule || !expr) return generic;
  if (rule.needs && !rule.needs.every((c) => columns.includes(c))) return generic;
  return expr;
}
