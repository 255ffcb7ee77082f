// What a journal entry is called on PostgreSQL: the same names the embedded store's
// triggers give (../sqlite/journal-kinds.ts), chosen by the write method that knows what
// it did, since there are no triggers here. A table without a name of its own gets
// `<op>:<table>`.

export type RowOp = "insert" | "update" | "delete";

const inserts: Readonly<Record<string, string>> = {
  meta: "meta.set",
  policies: "policy.published",
  catalogues: "catalogue.adopted",
  policy_proposals: "policy.proposed",
  subjects: "subject.created",
  identifiers: "identifier.linked",
  quarantine: "record.quarantined",
  states: "state.changed",
  keys: "key.created",
  decisions: "decision.logged",
  disputes: "dispute.opened",
  applications: "application.made",
  dispute_actions: "dispute.action",
  notices: "notice.created",
  deliveries: "notice.delivered-by",
  outbox: "notice.queued",
};

const updates: Readonly<Record<string, string>> = {
  meta: "meta.set",
  states: "state.changed",
};

/** The kind of an insert or update on `table`; `row` is the row written (records and disputes are named by their content). */
export function kindOf(table: string, op: RowOp, row: Record<string, unknown>): string {
  if (table === "records" && op === "insert") return row.retracts === null || row.retracts === undefined ? "record.accepted" : "record.retracted";
  if (table === "disputes" && op === "update") return `dispute.${String(row.status ?? "updated")}`;
  if (table === "policy_proposals" && op === "update") return `policy.${String(row.status ?? "updated")}`;
  const named = op === "insert" ? inserts[table] : op === "update" ? updates[table] : table === "identifiers" ? "identifier.unlinked" : undefined;
  return named ?? `${op}:${table}`;
}
