// Schema of the embedded store. WAL with synchronous=FULL: a record is on disk
// before ingest acknowledges it, and readers never block the writer.
export const schemaVersion = 1;

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
  codes TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS decisions_subject ON decisions(scheme, value, at);
`;
