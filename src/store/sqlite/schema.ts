// Schema of the embedded store. WAL with synchronous=FULL: a record is on disk
// before ingest acknowledges it, and readers never block the writer.
//
// Versions: 1 → 2 added decisions.batch (the decision log is journaled per batch, see
// docs/journal.md); rows logged before then keep batch NULL and their per-row entries.
// The screenings table (src/store/screening-log.ts) came later without a new version: it
// is only ever added to, and a file gets it the first time a build that has it opens the
// file for writing.
import type Database from "better-sqlite3";

export const schemaVersion = 2;

export const ddl = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS policies (
  seq INTEGER PRIMARY KEY,
  ref TEXT NOT NULL UNIQUE,
  policy_id TEXT NOT NULL,
  version TEXT NOT NULL,
  text TEXT NOT NULL,
  hash TEXT NOT NULL,
  effective INTEGER NOT NULL,
  published_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS catalogues (
  seq INTEGER PRIMARY KEY,
  catalogue_id TEXT NOT NULL,
  version TEXT NOT NULL UNIQUE,
  hash TEXT NOT NULL,
  text TEXT NOT NULL,
  adopted_at INTEGER NOT NULL,
  adopted_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS policy_proposals (
  id TEXT PRIMARY KEY,
  ref TEXT NOT NULL,
  text TEXT NOT NULL,
  hash TEXT NOT NULL,
  proposed_by TEXT NOT NULL,
  proposed_at INTEGER NOT NULL,
  status TEXT NOT NULL,
  decided_by TEXT,
  decided_at INTEGER,
  note TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS policy_proposals_ref ON policy_proposals(ref);
CREATE TABLE IF NOT EXISTS sessions (
  hash TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  ended_at INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ingest_outcomes (
  receipt TEXT NOT NULL,
  line INTEGER NOT NULL,
  source TEXT,
  record_id TEXT,
  status TEXT NOT NULL,
  detail TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (receipt, line)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ingest_outcomes_record ON ingest_outcomes(source, record_id, at);
CREATE TABLE IF NOT EXISTS partition_fences (partition INTEGER PRIMARY KEY, epoch INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS subjects (id INTEGER PRIMARY KEY, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS identifiers (
  scheme TEXT NOT NULL,
  value TEXT NOT NULL,
  subject_id INTEGER NOT NULL REFERENCES subjects(id),
  linked_at INTEGER NOT NULL,
  PRIMARY KEY (scheme, value)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS identifiers_subject ON identifiers(subject_id);
CREATE TABLE IF NOT EXISTS records (
  seq INTEGER PRIMARY KEY,
  source TEXT NOT NULL,
  record_id TEXT NOT NULL,
  subject_id INTEGER NOT NULL REFERENCES subjects(id),
  type TEXT NOT NULL,
  occurred_at INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  retracts TEXT,
  body TEXT NOT NULL,
  hash TEXT NOT NULL,
  UNIQUE (source, record_id)
);
CREATE INDEX IF NOT EXISTS records_subject ON records(subject_id, occurred_at);
CREATE TABLE IF NOT EXISTS quarantine (
  seq INTEGER PRIMARY KEY,
  source TEXT NOT NULL,
  record_id TEXT NOT NULL,
  scheme TEXT NOT NULL,
  value TEXT NOT NULL,
  body TEXT NOT NULL,
  hash TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  reason TEXT NOT NULL,
  released_at INTEGER,
  UNIQUE (source, record_id)
);
CREATE INDEX IF NOT EXISTS quarantine_open ON quarantine(scheme, value) WHERE released_at IS NULL;
CREATE TABLE IF NOT EXISTS states (
  subject_id INTEGER PRIMARY KEY REFERENCES subjects(id),
  policy_ref TEXT NOT NULL,
  evaluated_at INTEGER NOT NULL,
  next_change_at INTEGER,
  has_measures INTEGER NOT NULL,
  state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS states_next ON states(next_change_at) WHERE next_change_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS states_measures ON states(subject_id) WHERE has_measures = 1;
CREATE TABLE IF NOT EXISTS keys (
  key_id TEXT PRIMARY KEY,
  hash TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL,
  label TEXT NOT NULL,
  source TEXT,
  contexts TEXT NOT NULL,
  subject_id INTEGER REFERENCES subjects(id),
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE TABLE IF NOT EXISTS decisions (
  id TEXT PRIMARY KEY,
  at INTEGER NOT NULL,
  key_id TEXT NOT NULL,
  asked_by TEXT NOT NULL,
  scheme TEXT NOT NULL,
  value TEXT NOT NULL,
  context TEXT NOT NULL,
  decision TEXT NOT NULL,
  codes TEXT NOT NULL,
  batch INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS decisions_subject ON decisions(scheme, value, at);
CREATE TABLE IF NOT EXISTS screenings (
  id TEXT PRIMARY KEY,
  at INTEGER NOT NULL,
  key_id TEXT NOT NULL,
  asked_by TEXT NOT NULL,
  context TEXT NOT NULL,
  bucket INTEGER NOT NULL,
  lines INTEGER NOT NULL,
  entries TEXT NOT NULL,
  batch INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS screenings_bucket ON screenings(bucket, at);
CREATE TABLE IF NOT EXISTS disputes (
  id TEXT PRIMARY KEY,
  subject_id INTEGER NOT NULL REFERENCES subjects(id),
  source TEXT NOT NULL,
  record_id TEXT NOT NULL,
  grounds TEXT NOT NULL,
  evidence TEXT,
  opened_by TEXT NOT NULL,
  opened_at INTEGER NOT NULL,
  deadline_at INTEGER NOT NULL,
  suspend INTEGER NOT NULL,
  status TEXT NOT NULL,
  answer_note TEXT,
  answered_at INTEGER,
  decided_by TEXT,
  reason TEXT,
  closed_at INTEGER,
  counts INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS disputes_record ON disputes(source, record_id, opened_at);
CREATE INDEX IF NOT EXISTS disputes_subject ON disputes(subject_id, opened_at);
CREATE INDEX IF NOT EXISTS disputes_open ON disputes(deadline_at) WHERE status = 'open';
CREATE TABLE IF NOT EXISTS dispute_actions (
  seq INTEGER PRIMARY KEY,
  dispute_id TEXT NOT NULL REFERENCES disputes(id),
  action TEXT NOT NULL,
  actor TEXT NOT NULL,
  at INTEGER NOT NULL,
  note TEXT
);
CREATE INDEX IF NOT EXISTS dispute_actions_dispute ON dispute_actions(dispute_id, seq);
CREATE TABLE IF NOT EXISTS applications (
  id TEXT PRIMARY KEY,
  subject_id INTEGER NOT NULL REFERENCES subjects(id),
  list TEXT NOT NULL,
  applied_at INTEGER NOT NULL,
  applied_by TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS applications_subject ON applications(subject_id);
CREATE TABLE IF NOT EXISTS notices (
  id TEXT PRIMARY KEY,
  subject_id INTEGER NOT NULL REFERENCES subjects(id),
  measure TEXT NOT NULL,
  effective_from INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  body TEXT NOT NULL,
  UNIQUE (subject_id, measure, effective_from)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS notices_subject ON notices(subject_id, created_at);
CREATE TABLE IF NOT EXISTS outbox (
  notice_id TEXT PRIMARY KEY REFERENCES notices(id),
  attempts INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  delivered_at INTEGER,
  last_error TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(next_attempt_at) WHERE delivered_at IS NULL;
CREATE TABLE IF NOT EXISTS deliveries (
  notice_id TEXT NOT NULL REFERENCES notices(id),
  channel TEXT NOT NULL,
  delivered_at INTEGER NOT NULL,
  PRIMARY KEY (notice_id, channel)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (
  seq INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  ref TEXT NOT NULL,
  origin TEXT NOT NULL,
  at INTEGER NOT NULL
);
`;

/** The schema version a database says it has; null for a new one. */
function storedVersion(db: Database.Database): number | null {
  const v = db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get() as string | undefined;
  return v === undefined ? null : Number(v);
}

/**
 * Brings an existing database's tables up to this build's schema. Runs after `ddl` and
 * before the journal is installed, so that the journal sees the final columns (a
 * table's batch column decides whether it gets row triggers). ADD COLUMN changes no
 * row's hash: the batch column is left out of it. Idempotent, so an upgrade cut off
 * before recordSchemaVersion is finished by the next open. A read-only open upgrades
 * nothing: reading works on version 1 as it is. Returns the version found.
 */
export function upgradeSchema(db: Database.Database, path: string, readOnly: boolean): number | null {
  const found = storedVersion(db);
  if (found === null || found === schemaVersion) return found;
  if (found !== 1) {
    throw new Error(
      `database ${path} has schema version ${String(found)}; this build reads versions 1 to ${schemaVersion}` +
        (found > schemaVersion ? " (it was written by a newer Standing)" : ""),
    );
  }
  if (readOnly) return found;
  // Checked and added under the write lock: two processes opening the same old file at
  // once must not both try to add the column.
  db.transaction(() => {
    const has = (db.prepare("PRAGMA main.table_info(decisions)").all() as { name: string }[]).some((c) => c.name === "batch");
    if (!has) db.exec("ALTER TABLE decisions ADD COLUMN batch INTEGER");
  }).immediate();
  return found;
}

/** After the journal is installed, so that the change of version is journaled. */
export function recordSchemaVersion(db: Database.Database, found: number | null, readOnly: boolean): void {
  // OR IGNORE: two processes creating the same new file must not trip over each other.
  if (found === null) db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)").run(String(schemaVersion));
  else if (found !== schemaVersion && !readOnly) db.prepare("UPDATE meta SET value = ? WHERE key = 'schema'").run(String(schemaVersion));
}
