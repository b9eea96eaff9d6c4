#include "server/job_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "server/payload_checksum.h"

namespace sigprop::server {
namespace {

// "SGPR": marks the file as ours, so a stray SQLite file is refused rather than written into.
constexpr int64_t kApplicationId = 0x53475052;
constexpr int64_t kSchemaVersion = 2;

constexpr char kSchema[] = R"sql(
CREATE TABLE sweeps (
  id TEXT PRIMARY KEY NOT NULL,
  owner TEXT NOT NULL,
  spec BLOB NOT NULL,
  spec_checksum INTEGER NOT NULL,
  points_total INTEGER NOT NULL,
  points_done INTEGER NOT NULL,
  state INTEGER NOT NULL,
  error TEXT NOT NULL,
  created_unix_ms INTEGER NOT NULL,
  last_sequence INTEGER NOT NULL,
  kind INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sweeps_by_owner ON sweeps (owner);
CREATE TABLE points (
  sweep_id TEXT NOT NULL,
  point INTEGER NOT NULL,
  state INTEGER NOT NULL,
  PRIMARY KEY (sweep_id, point)
) WITHOUT ROWID;
CREATE TABLE events (
  sweep_id TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  payload BLOB NOT NULL,
  checksum INTEGER NOT NULL,
  PRIMARY KEY (sweep_id, sequence)
) WITHOUT ROWID;
CREATE TABLE layers (
  sweep_id TEXT NOT NULL,
  point INTEGER NOT NULL,
  layer INTEGER NOT NULL,
  payload BLOB NOT NULL,
  checksum INTEGER NOT NULL,
  PRIMARY KEY (sweep_id, point, layer)
) WITHOUT ROWID;
CREATE TABLE compare_rows (
  sweep_id TEXT NOT NULL,
  point INTEGER NOT NULL,
  row INTEGER NOT NULL,
  payload BLOB NOT NULL,
  checksum INTEGER NOT NULL,
  PRIMARY KEY (sweep_id, point, row)
) WITHOUT ROWID;
PRAGMA application_id = 1397182546;
PRAGMA user_version = 2;
)sql";

// Version 1 → 2: comparisons become stored sweeps (sweeps.kind, compare_rows).
constexpr char kUpgradeFrom1[] = R"sql(
ALTER TABLE sweeps ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
CREATE TABLE compare_rows (
  sweep_id TEXT NOT NULL,
  point INTEGER NOT NULL,
  row INTEGER NOT NULL,
  payload BLOB NOT NULL,
  checksum INTEGER NOT NULL,
  PRIMARY KEY (sweep_id, point, row)
) WITHOUT ROWID;
PRAGMA user_version = 2;
)sql";

// sweeps.kind: what the spec column holds.
constexpr int64_t kSweepSpecKind = 0;
constexpr int64_t kCompareSweepKind = 1;
static_assert(kApplicationId == 1397182546, "kSchema spells the application id in decimal");

// The columns SweepFromRow reads, in its order; a version-1 file (read-only) has no kind column,
// and holds SweepSpecs only.
std::string SweepColumns(int64_t schema_version) {
  return absl::StrCat(
      "id, owner, spec, spec_checksum, points_total, points_done, state, error, created_unix_ms, "
      "last_sequence, ",
      schema_version >= 2 ? "kind" : "0");
}

std::string SweepOp(absl::string_view operation, absl::string_view sweep_id) {
  return absl::StrCat(operation, " sweep '", sweep_id, "'");
}

std::string Serialize(const google::protobuf::MessageLite& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }  // The coded stream flushes into `bytes` when it goes away.
  return bytes;
}

std::string EventKey(absl::string_view sweep_id, int64_t sequence) {
  return absl::StrCat(sweep_id, "/", sequence);
}
std::string LayerKey(absl::string_view sweep_id, int64_t point, int64_t layer) {
  return absl::StrCat(sweep_id, "/", point, "/", layer);
}
std::string CompareRowKey(absl::string_view sweep_id, int64_t point, int64_t row) {
  return absl::StrCat(sweep_id, "/compare/", point, "/", row);
}

template <typename Message>
absl::StatusOr<Message> Decode(absl::string_view key, absl::string_view payload, int64_t checksum,
                               absl::string_view operation, absl::string_view what) {
  if (PayloadChecksum(key, payload) != checksum) {
    return absl::DataLossError(absl::StrCat(operation, ": ", what, " '", key,
                                            "' fails its checksum: the job store is corrupt"));
  }
  Message message;
  if (!message.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError(absl::StrCat(operation, ": ", what, " '", key,
                                            "' does not parse: the job store is corrupt"));
  }
  return message;
}

v1::SweepFinished::State FinishedState(v1::SweepStatus::State state) {
  switch (state) {
    case v1::SweepStatus::SUCCEEDED:
      return v1::SweepFinished::SUCCEEDED;
    case v1::SweepStatus::FAILED:
      return v1::SweepFinished::FAILED;
    case v1::SweepStatus::CANCELLED:
      return v1::SweepFinished::CANCELLED;
    default:
      return v1::SweepFinished::STATE_UNSPECIFIED;
  }
}

// Reads a row selected with SweepColumns.
absl::StatusOr<SweepRecord> SweepFromRow(const Statement& row, absl::string_view operation) {
  SweepRecord sweep;
  sweep.id = row.ColumnText(0);
  sweep.owner = row.ColumnText(1);
  sweep.comparison = row.ColumnInt(10) == kCompareSweepKind;
  if (sweep.comparison) {
    absl::StatusOr<v1::CompareSweep> compare = Decode<v1::CompareSweep>(
        sweep.id, row.ColumnBlob(2), row.ColumnInt(3), operation, "comparison of sweep");
    if (!compare.ok()) return compare.status();
    sweep.compare = *std::move(compare);
  } else {
    absl::StatusOr<v1::SweepSpec> spec = Decode<v1::SweepSpec>(
        sweep.id, row.ColumnBlob(2), row.ColumnInt(3), operation, "spec of sweep");
    if (!spec.ok()) return spec.status();
    sweep.spec = *std::move(spec);
  }
  sweep.points_total = static_cast<int>(row.ColumnInt(4));
  sweep.points_done = static_cast<int>(row.ColumnInt(5));
  sweep.state = static_cast<v1::SweepStatus::State>(row.ColumnInt(6));
  sweep.error = row.ColumnText(7);
  sweep.created_unix_ms = row.ColumnInt(8);
  sweep.last_sequence = row.ColumnInt(9);
  return sweep;
}

// Walks every row of `sql` (no bindings) into one string; used for pragmas returning text.
absl::StatusOr<std::string> PragmaText(SqliteConnection& db, const char* sql) {
  absl::StatusOr<Statement> statement = db.Prepare(sql, sql);
  if (!statement.ok()) return statement.status();
  std::vector<std::string> rows;
  while (true) {
    absl::StatusOr<bool> row = statement->Step(sql);
    if (!row.ok()) return row.status();
    if (!*row) break;
    rows.push_back(statement->ColumnText(0));
  }
  return absl::StrJoin(rows, "; ");
}

absl::StatusOr<int64_t> PragmaInt(SqliteConnection& db, const char* sql) {
  absl::StatusOr<Statement> statement = db.Prepare(sql, sql);
  if (!statement.ok()) return statement.status();
  absl::StatusOr<bool> row = statement->Step(sql);
  if (!row.ok()) return row.status();
  if (!*row) return absl::InternalError(absl::StrCat(sql, ": returned no row"));
  return statement->ColumnInt(0);
}

absl::Status QuickCheck(SqliteConnection& db) {
  absl::StatusOr<std::string> result = PragmaText(db, "PRAGMA quick_check(20)");
  if (!result.ok()) return result.status();
  if (*result != "ok") return absl::DataLossError(absl::StrCat("PRAGMA quick_check: ", *result));
  return absl::OkStatus();
}

// Creates the schema in an empty file, or checks that a non-empty one is ours and one this build
// reads (upgrading version 1 when writable); returns the version in the file.
absl::StatusOr<int64_t> EnsureSchema(SqliteConnection& db, bool read_only) {
  absl::StatusOr<int64_t> objects = PragmaInt(db, "SELECT count(*) FROM sqlite_schema");
  if (!objects.ok()) return objects.status();
  if (*objects == 0) {
    if (read_only) return absl::FailedPreconditionError("the file is empty and read-only");
    absl::StatusOr<Transaction> transaction = Transaction::Begin(db, "create schema");
    if (!transaction.ok()) return transaction.status();
    if (absl::Status created = db.Exec(kSchema, "create schema"); !created.ok()) return created;
    if (absl::Status done = transaction->Commit("create schema"); !done.ok()) return done;
    return kSchemaVersion;
  }
  absl::StatusOr<int64_t> application_id = PragmaInt(db, "PRAGMA application_id");
  if (!application_id.ok()) return application_id.status();
  if (*application_id != kApplicationId) {
    return absl::FailedPreconditionError(absl::StrCat(
        "not a sigprop job store (application_id ", *application_id, ", expected ", kApplicationId, ")"));
  }
  absl::StatusOr<int64_t> version = PragmaInt(db, "PRAGMA user_version");
  if (!version.ok()) return version.status();
  if (*version == 1 && !read_only) {
    absl::StatusOr<Transaction> transaction = Transaction::Begin(db, "upgrade schema 1 to 2");
    if (!transaction.ok()) return transaction.status();
    if (absl::Status upgraded = db.Exec(kUpgradeFrom1, "upgrade schema 1 to 2"); !upgraded.ok()) {
      return upgraded;
    }
    if (absl::Status done = transaction->Commit("upgrade schema 1 to 2"); !done.ok()) return done;
    return kSchemaVersion;
  }
  if (*version != kSchemaVersion && *version != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "schema version ", *version, ", but this build reads versions 1 and ", kSchemaVersion));
  }
  return *version;
}

// A SQLite URI that reads `path` as immutable, percent-encoding what a URI path cannot hold.
std::string ImmutableUri(const std::string& path) {
  std::string uri = "file:";
  for (const unsigned char c : path) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '/' || c == '-' || c == '.' || c == '_' || c == '~';
    if (plain) {
      uri += static_cast<char>(c);
    } else {
      absl::StrAppend(&uri, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return uri + "?mode=ro&immutable=1";
}

bool WalHasContent(const std::string& path) {
  std::error_code error;
  const auto size = std::filesystem::file_size(path + "-wal", error);
  return !error && size > 0;
}

absl::StatusOr<std::unique_ptr<SqliteConnection>> Connect(const std::string& filename, int flags,
                                                          int busy_timeout_ms) {
  absl::StatusOr<std::unique_ptr<SqliteConnection>> db = SqliteConnection::Open(filename, flags);
  if (!db.ok()) return db.status();
  sqlite3_busy_timeout((*db)->handle(), busy_timeout_ms);
  return db;
}

}  // namespace

bool IsTerminal(v1::SweepStatus::State state) {
  return state == v1::SweepStatus::SUCCEEDED || state == v1::SweepStatus::FAILED ||
         state == v1::SweepStatus::CANCELLED;
}

v1::SweepStatus SweepRecord::ToProto() const {
  v1::SweepStatus status;
  status.set_sweep_id(id);
  status.set_name(comparison ? compare.name() : spec.name());
  status.set_owner(owner);
  status.set_state(state);
  status.set_points_total(points_total);
  status.set_points_done(points_done);
  status.set_last_sequence(last_sequence);
  if (comparison) {
    *status.mutable_compare() = compare;
  } else {
    *status.mutable_spec() = spec;
  }
  status.set_error(error);
  return status;
}

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::string& path) {
  return Open(path, OpenOptions());
}

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::string& path,
                                                         const OpenOptions& options) {
  const std::string where = absl::StrCat("job store '", path, "'");
  const int flags =
      options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  absl::StatusOr<std::unique_ptr<SqliteConnection>> db =
      Connect(path, flags, options.busy_timeout_ms);
  if (!db.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot open ", where, ": ", db.status().message()));
  }
  // SQLite falls back to read-only by itself when the file is not writable.
  const bool read_only = options.read_only || (*db)->ReadOnly();

  absl::Status checked = QuickCheck(**db);
  const int primary_code = sqlite3_extended_errcode((*db)->handle()) & 0xff;
  if (!checked.ok() && read_only &&
      (primary_code == SQLITE_READONLY || primary_code == SQLITE_CANTOPEN)) {
    // Reading a WAL database needs its -shm index, which SQLite cannot create in a directory we may
    // not write. With no log left to replay the main file is the whole database, and reading it as
    // immutable is exact; with a log left, the committed changes in it would be missed.
    if (WalHasContent(path)) {
      return absl::FailedPreconditionError(absl::StrCat(
          where, " is read-only and its write-ahead log '", path,
          "-wal' holds changes that cannot be replayed without write access"));
    }
    db = Connect(ImmutableUri(path), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, options.busy_timeout_ms);
    if (!db.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot open ", where, " read-only: ", db.status().message()));
    }
    checked = QuickCheck(**db);
  }
  if (!checked.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, " is corrupt or unreadable: ", checked.message()));
  }

  if (!read_only) {
    absl::StatusOr<std::string> mode = PragmaText(**db, "PRAGMA journal_mode = WAL");
    if (!mode.ok() || *mode != "wal") {
      return absl::FailedPreconditionError(absl::StrCat(
          where, ": cannot switch to WAL mode: ", mode.ok() ? *mode : mode.status().message()));
    }
  }
  // Per connection, not stored in the file: a commit returns only once the WAL is synced, so a
  // finished result survives power loss.
  if (absl::Status synced = (*db)->Exec("PRAGMA synchronous = FULL", "PRAGMA synchronous");
      !synced.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(where, ": ", synced.message()));
  }
  absl::StatusOr<int64_t> schema = EnsureSchema(**db, read_only);
  if (!schema.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(where, ": ", schema.status().message()));
  }
  return std::unique_ptr<JobStore>(new JobStore(path, *std::move(db), read_only, *schema));
}

JobStore::~JobStore() = default;

absl::Status JobStore::CheckWritable(absl::string_view operation) const {
  if (!read_only_) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(operation, ": the job store '", path_, "' is open read-only"));
}

absl::Status JobStore::CreateSweep(const SweepRecord& sweep) {
  const std::string op = SweepOp("CreateSweep", sweep.id);
  if (absl::Status writable = CheckWritable(op); !writable.ok()) return writable;
  if (sweep.id.empty()) return absl::InvalidArgumentError("CreateSweep: empty sweep id");
  if (sweep.points_total < 0) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": points_total ", sweep.points_total, " < 0"));
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Transaction> transaction = Transaction::Begin(*db_, op);
  if (!transaction.ok()) return transaction.status();
  {
    absl::StatusOr<Statement> exists = db_->Prepare("SELECT 1 FROM sweeps WHERE id = ?1", op);
    if (!exists.ok()) return exists.status();
    exists->BindText(1, sweep.id);
    absl::StatusOr<bool> found = exists->Step(op);
    if (!found.ok()) return found.status();
    if (*found) return absl::AlreadyExistsError(absl::StrCat(op, ": the id is taken"));
  }
  {
    absl::StatusOr<Statement> insert = db_->Prepare(
        "INSERT INTO sweeps (id, owner, spec, spec_checksum, points_total, points_done, state, "
        "error, created_unix_ms, last_sequence, kind) "
        "VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?8, 0, ?9)",
        op);
    if (!insert.ok()) return insert.status();
    const std::string spec = sweep.comparison ? Serialize(sweep.compare) : Serialize(sweep.spec);
    insert->BindInt(9, sweep.comparison ? kCompareSweepKind : kSweepSpecKind);
    insert->BindText(1, sweep.id);
    insert->BindText(2, sweep.owner);
    insert->BindBlob(3, spec);
    insert->BindInt(4, PayloadChecksum(sweep.id, spec));
    insert->BindInt(5, sweep.points_total);
    insert->BindInt(6, sweep.state);
    insert->BindText(7, sweep.error);
    insert->BindInt(8, sweep.created_unix_ms);
    if (absl::Status inserted = insert->Run(op); !inserted.ok()) return inserted;
  }
  if (!sweep.points.empty() && static_cast<int>(sweep.points.size()) != sweep.points_total) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", sweep.points.size(),
                                                   " points listed but points_total is ",
                                                   sweep.points_total));
  }
  for (int i = 0; i < sweep.points_total; ++i) {
    const int point = sweep.points.empty() ? i : sweep.points[i];
    absl::StatusOr<Statement> insert =
        db_->Prepare("INSERT INTO points (sweep_id, point, state) VALUES (?1, ?2, ?3)", op);
    if (!insert.ok()) return insert.status();
    insert->BindText(1, sweep.id);
    insert->BindInt(2, point);
    insert->BindInt(3, static_cast<int>(PointState::kQueued));
    if (absl::Status inserted = insert->Run(op); !inserted.ok()) return inserted;
  }
  return transaction->Commit(op);
}

absl::StatusOr<v1::Event> JobStore::AppendEventLocked(const std::string& sweep_id, v1::Event event,
                                                      absl::string_view operation) {
  int64_t sequence = 0;
  {
    absl::StatusOr<Statement> last =
        db_->Prepare("SELECT last_sequence FROM sweeps WHERE id = ?1", operation);
    if (!last.ok()) return last.status();
    last->BindText(1, sweep_id);
    absl::StatusOr<bool> found = last->Step(operation);
    if (!found.ok()) return found.status();
    if (!*found) return absl::NotFoundError(absl::StrCat(operation, ": no such sweep"));
    sequence = last->ColumnInt(0) + 1;
  }
  event.set_sweep_id(sweep_id);
  event.set_sequence(sequence);
  const std::string payload = Serialize(event);
  {
    absl::StatusOr<Statement> insert = db_->Prepare(
        "INSERT INTO events (sweep_id, sequence, payload, checksum) VALUES (?1, ?2, ?3, ?4)",
        operation);
    if (!insert.ok()) return insert.status();
    insert->BindText(1, sweep_id);
    insert->BindInt(2, sequence);
    insert->BindBlob(3, payload);
    insert->BindInt(4, PayloadChecksum(EventKey(sweep_id, sequence), payload));
    if (absl::Status inserted = insert->Run(operation); !inserted.ok()) return inserted;
  }
  absl::StatusOr<Statement> bump =
      db_->Prepare("UPDATE sweeps SET last_sequence = ?2 WHERE id = ?1", operation);
  if (!bump.ok()) return bump.status();
  bump->BindText(1, sweep_id);
  bump->BindInt(2, sequence);
  if (absl::Status bumped = bump->Run(operation); !bumped.ok()) return bumped;
  return event;
}

absl::Status JobStore::CheckNotEndedLocked(const std::string& sweep_id, absl::string_view operation) {
  absl::StatusOr<Statement> state = db_->Prepare("SELECT state FROM sweeps WHERE id = ?1", operation);
  if (!state.ok()) return state.status();
  state->BindText(1, sweep_id);
  absl::StatusOr<bool> found = state->Step(operation);
  if (!found.ok()) return found.status();
  if (!*found) return absl::NotFoundError(absl::StrCat(operation, ": no such sweep"));
  const auto current = static_cast<v1::SweepStatus::State>(state->ColumnInt(0));
  if (IsTerminal(current)) {
    return absl::FailedPreconditionError(absl::StrCat(
        operation, ": the sweep already ended as ", v1::SweepStatus::State_Name(current),
        "; its log ends with SweepFinished"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Event> JobStore::AppendEvent(const std::string& sweep_id, v1::Event event) {
  std::vector<v1::Event> one;
  one.push_back(std::move(event));
  absl::StatusOr<std::vector<v1::Event>> stored = AppendEvents(sweep_id, std::move(one));
  if (!stored.ok()) return stored.status();
  return std::move(stored->front());
}

absl::StatusOr<std::vector<v1::Event>> JobStore::AppendEvents(const std::string& sweep_id,
                                                              std::vector<v1::Event> events) {
  const std::string op = SweepOp("AppendEvent", sweep_id);
  if (absl::Status writable = CheckWritable(op); !writable.ok()) return writable;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Transaction> transaction = Transaction::Begin(*db_, op);
  if (!transaction.ok()) return transaction.status();
  if (absl::Status open = CheckNotEndedLocked(sweep_id, op); !open.ok()) return open;
  std::vector<v1::Event> stored;
  stored.reserve(events.size());
  for (v1::Event& event : events) {
    absl::StatusOr<v1::Event> one = AppendEventLocked(sweep_id, std::move(event), op);
    if (!one.ok()) return one.status();
    stored.push_back(*std::move(one));
  }
  if (absl::Status committed = transaction->Commit(op); !committed.ok()) return committed;
  return stored;
}

absl::StatusOr<std::vector<v1::Event>> JobStore::CompletePointWith(
    const std::string& sweep_id, int point, int rows,
    const std::function<absl::Status(const std::string& op, std::vector<v1::Event>* events)>&
        store_rows) {
  const std::string op = absl::StrCat(SweepOp("CompletePoint", sweep_id), " point ", point);
  if (absl::Status writable = CheckWritable(op); !writable.ok()) return writable;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Transaction> transaction = Transaction::Begin(*db_, op);
  if (!transaction.ok()) return transaction.status();
  {
    absl::StatusOr<Statement> state =
        db_->Prepare("SELECT state FROM points WHERE sweep_id = ?1 AND point = ?2", op);
    if (!state.ok()) return state.status();
    state->BindText(1, sweep_id);
    state->BindInt(2, point);
    absl::StatusOr<bool> found = state->Step(op);
    if (!found.ok()) return found.status();
    if (!*found) return absl::NotFoundError(absl::StrCat(op, ": no such point"));
    if (state->ColumnInt(0) == static_cast<int>(PointState::kDone)) {
      return absl::FailedPreconditionError(absl::StrCat(op, ": the point is already done"));
    }
  }
  std::vector<v1::Event> events;
  events.reserve(static_cast<size_t>(rows) + 1);
  if (absl::Status stored = store_rows(op, &events); !stored.ok()) return stored;
  v1::Event finished;
  finished.set_point(point);
  finished.mutable_point_finished()->set_layers(rows);
  absl::StatusOr<v1::Event> stored = AppendEventLocked(sweep_id, std::move(finished), op);
  if (!stored.ok()) return stored.status();
  events.push_back(*std::move(stored));
  {
    absl::StatusOr<Statement> done =
        db_->Prepare("UPDATE points SET state = ?3 WHERE sweep_id = ?1 AND point = ?2", op);
    if (!done.ok()) return done.status();
    done->BindText(1, sweep_id);
    done->BindInt(2, point);
    done->BindInt(3, static_cast<int>(PointState::kDone));
    if (absl::Status updated = done->Run(op); !updated.ok()) return updated;
  }
  {
    absl::StatusOr<Statement> count =
        db_->Prepare("UPDATE sweeps SET points_done = points_done + 1 WHERE id = ?1", op);
    if (!count.ok()) return count.status();
    count->BindText(1, sweep_id);
    if (absl::Status updated = count->Run(op); !updated.ok()) return updated;
  }
  if (absl::Status committed = transaction->Commit(op); !committed.ok()) return committed;
  return events;
}

absl::StatusOr<std::vector<v1::Event>> JobStore::CompletePoint(
    const std::string& sweep_id, int point, const std::vector<v1::LayerStats>& layers) {
  for (size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].point() != point) {
      return absl::InvalidArgumentError(absl::StrCat(SweepOp("CompletePoint", sweep_id), " point ",
                                                     point, ": layers[", i, "].point is ",
                                                     layers[i].point()));
    }
  }
  return CompletePointWith(
      sweep_id, point, static_cast<int>(layers.size()),
      [&](const std::string& op, std::vector<v1::Event>* events) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        for (const v1::LayerStats& layer : layers) {
          const std::string layer_op = absl::StrCat(op, " layer ", layer.layer());
          v1::Event event;
          event.set_point(point);
          *event.mutable_layer() = layer;
          absl::StatusOr<v1::Event> stored = AppendEventLocked(sweep_id, std::move(event), layer_op);
          if (!stored.ok()) return stored.status();
          events->push_back(*std::move(stored));
          absl::StatusOr<Statement> insert = db_->Prepare(
              "INSERT INTO layers (sweep_id, point, layer, payload, checksum) "
              "VALUES (?1, ?2, ?3, ?4, ?5)",
              op);
          if (!insert.ok()) return insert.status();
          const std::string payload = Serialize(layer);
          insert->BindText(1, sweep_id);
          insert->BindInt(2, point);
          insert->BindInt(3, layer.layer());
          insert->BindBlob(4, payload);
          insert->BindInt(5, PayloadChecksum(LayerKey(sweep_id, point, layer.layer()), payload));
          if (absl::Status inserted = insert->Run(layer_op); !inserted.ok()) return inserted;
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<v1::Event>> JobStore::CompleteComparePoint(
    const std::string& sweep_id, int point, const std::vector<v1::CompareRow>& rows) {
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].point() != point) {
      return absl::InvalidArgumentError(absl::StrCat(SweepOp("CompletePoint", sweep_id), " point ",
                                                     point, ": rows[", i, "].point is ",
                                                     rows[i].point()));
    }
  }
  return CompletePointWith(
      sweep_id, point, static_cast<int>(rows.size()),
      [&](const std::string& op, std::vector<v1::Event>* events) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        for (size_t r = 0; r < rows.size(); ++r) {
          const std::string row_op = absl::StrCat(op, " row ", r);
          v1::Event event;
          event.set_point(point);
          *event.mutable_compare_row() = rows[r];
          absl::StatusOr<v1::Event> stored = AppendEventLocked(sweep_id, std::move(event), row_op);
          if (!stored.ok()) return stored.status();
          events->push_back(*std::move(stored));
          absl::StatusOr<Statement> insert = db_->Prepare(
              "INSERT INTO compare_rows (sweep_id, point, row, payload, checksum) "
              "VALUES (?1, ?2, ?3, ?4, ?5)",
              op);
          if (!insert.ok()) return insert.status();
          const std::string payload = Serialize(rows[r]);
          insert->BindText(1, sweep_id);
          insert->BindInt(2, point);
          insert->BindInt(3, static_cast<int64_t>(r));
          insert->BindBlob(4, payload);
          insert->BindInt(5, PayloadChecksum(CompareRowKey(sweep_id, point, r), payload));
          if (absl::Status inserted = insert->Run(row_op); !inserted.ok()) return inserted;
        }
        return absl::OkStatus();
      });
}

absl::Status JobStore::SetPointState(const std::string& sweep_id, int point, PointState state) {
  const std::string op = absl::StrCat(SweepOp("SetPointState", sweep_id), " point ", point);
  if (absl::Status writable = CheckWritable(op); !writable.ok()) return writable;
  if (state == PointState::kDone) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": DONE is set by CompletePoint, together with the results"));
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Transaction> transaction = Transaction::Begin(*db_, op);
  if (!transaction.ok()) return transaction.status();
  {
    absl::StatusOr<Statement> current =
        db_->Prepare("SELECT state FROM points WHERE sweep_id = ?1 AND point = ?2", op);
    if (!current.ok()) return current.status();
    current->BindText(1, sweep_id);
    current->BindInt(2, point);
    absl::StatusOr<bool> found = current->Step(op);
    if (!found.ok()) return found.status();
    if (!*found) return absl::NotFoundError(absl::StrCat(op, ": no such point"));
    if (current->ColumnInt(0) == static_cast<int>(PointState::kDone)) {
      return absl::FailedPreconditionError(absl::StrCat(op, ": the point is already done"));
    }
  }
  absl::StatusOr<Statement> update =
      db_->Prepare("UPDATE points SET state = ?3 WHERE sweep_id = ?1 AND point = ?2", op);
  if (!update.ok()) return update.status();
  update->BindText(1, sweep_id);
  update->BindInt(2, point);
  update->BindInt(3, static_cast<int>(state));
  if (absl::Status updated = update->Run(op); !updated.ok()) return updated;
  return transaction->Commit(op);
}

absl::StatusOr<std::optional<v1::Event>> JobStore::SetSweepState(const std::string& sweep_id,
                                                                 v1::SweepStatus::State state,
                                                                 const std::string& error) {
  const std::string op = SweepOp("SetSweepState", sweep_id);
  if (absl::Status writable = CheckWritable(op); !writable.ok()) return writable;
  if (state == v1::SweepStatus::STATE_UNSPECIFIED || !v1::SweepStatus::State_IsValid(state)) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": invalid state ", state));
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Transaction> transaction = Transaction::Begin(*db_, op);
  if (!transaction.ok()) return transaction.status();
  {
    absl::StatusOr<Statement> current = db_->Prepare("SELECT state FROM sweeps WHERE id = ?1", op);
    if (!current.ok()) return current.status();
    current->BindText(1, sweep_id);
    absl::StatusOr<bool> found = current->Step(op);
    if (!found.ok()) return found.status();
    if (!*found) return absl::NotFoundError(absl::StrCat(op, ": no such sweep"));
    const auto current_state = static_cast<v1::SweepStatus::State>(current->ColumnInt(0));
    if (IsTerminal(current_state)) {
      return absl::FailedPreconditionError(absl::StrCat(
          op, ": the sweep already finished as ", v1::SweepStatus::State_Name(current_state)));
    }
  }
  {
    absl::StatusOr<Statement> update =
        db_->Prepare("UPDATE sweeps SET state = ?2, error = ?3 WHERE id = ?1", op);
    if (!update.ok()) return update.status();
    update->BindText(1, sweep_id);
    update->BindInt(2, state);
    update->BindText(3, error);
    if (absl::Status updated = update->Run(op); !updated.ok()) return updated;
  }
  std::optional<v1::Event> finished;
  if (IsTerminal(state)) {
    v1::Event event;
    event.mutable_sweep_finished()->set_state(FinishedState(state));
    absl::StatusOr<v1::Event> stored = AppendEventLocked(sweep_id, std::move(event), op);
    if (!stored.ok()) return stored.status();
    finished = *std::move(stored);
  }
  if (absl::Status committed = transaction->Commit(op); !committed.ok()) return committed;
  return finished;
}

absl::StatusOr<std::vector<v1::Event>> JobStore::ReadEvents(const std::string& sweep_id,
                                                            int64_t after, int limit) {
  const std::string op = SweepOp("ReadEvents", sweep_id);
  if (limit < 0) return absl::InvalidArgumentError(absl::StrCat(op, ": limit ", limit, " < 0"));
  absl::MutexLock lock(&mu_);
  if (absl::StatusOr<SweepRecord> sweep = GetSweepLocked(sweep_id, op); !sweep.ok()) {
    return sweep.status();
  }
  absl::StatusOr<Statement> select = db_->Prepare(
      "SELECT sequence, payload, checksum FROM events WHERE sweep_id = ?1 AND sequence > ?2 "
      "ORDER BY sequence LIMIT ?3",
      op);
  if (!select.ok()) return select.status();
  select->BindText(1, sweep_id);
  select->BindInt(2, after);
  select->BindInt(3, limit);
  std::vector<v1::Event> events;
  int64_t expected = std::max<int64_t>(after, 0) + 1;
  while (true) {
    absl::StatusOr<bool> row = select->Step(op);
    if (!row.ok()) return row.status();
    if (!*row) break;
    const int64_t sequence = select->ColumnInt(0);
    // Sequences are dense by construction; a hole means rows were lost, and serving past it would
    // hand a watcher a gap.
    if (sequence != expected) {
      return absl::DataLossError(absl::StrCat(op, ": event ", expected,
                                              " is missing: the job store is corrupt"));
    }
    absl::StatusOr<v1::Event> event = Decode<v1::Event>(
        EventKey(sweep_id, sequence), select->ColumnBlob(1), select->ColumnInt(2), op, "event");
    if (!event.ok()) return event.status();
    events.push_back(*std::move(event));
    ++expected;
  }
  return events;
}

absl::StatusOr<SweepRecord> JobStore::GetSweepLocked(const std::string& id,
                                                     absl::string_view operation) {
  const std::string sql =
      absl::StrCat("SELECT ", SweepColumns(schema_version_), " FROM sweeps WHERE id = ?1");
  absl::StatusOr<Statement> select = db_->Prepare(sql.c_str(), operation);
  if (!select.ok()) return select.status();
  select->BindText(1, id);
  absl::StatusOr<bool> found = select->Step(operation);
  if (!found.ok()) return found.status();
  if (!*found) return absl::NotFoundError(absl::StrCat("sweep '", id, "' not found"));
  return SweepFromRow(*select, operation);
}

absl::StatusOr<SweepRecord> JobStore::GetSweep(const std::string& id) {
  absl::MutexLock lock(&mu_);
  return GetSweepLocked(id, SweepOp("GetSweep", id));
}

absl::StatusOr<std::vector<SweepRecord>> JobStore::ListSweeps(const std::string& owner) {
  const std::string op = absl::StrCat("ListSweeps owner '", owner, "'");
  absl::MutexLock lock(&mu_);
  const std::string sql = absl::StrCat(
      "SELECT ", SweepColumns(schema_version_),
      " FROM sweeps WHERE ?1 = '' OR owner = ?1 ORDER BY created_unix_ms DESC, rowid DESC");
  absl::StatusOr<Statement> select = db_->Prepare(sql.c_str(), op);
  if (!select.ok()) return select.status();
  select->BindText(1, owner);
  std::vector<SweepRecord> sweeps;
  while (true) {
    absl::StatusOr<bool> row = select->Step(op);
    if (!row.ok()) return row.status();
    if (!*row) break;
    absl::StatusOr<SweepRecord> sweep = SweepFromRow(*select, op);
    if (!sweep.ok()) return sweep.status();
    sweeps.push_back(*std::move(sweep));
  }
  return sweeps;
}

absl::StatusOr<std::vector<v1::LayerStats>> JobStore::ReadLayers(const std::string& sweep_id,
                                                                 int64_t offset, int limit) {
  const std::string op = SweepOp("ReadLayers", sweep_id);
  if (offset < 0 || limit < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": offset ", offset, " and limit ", limit, " must be >= 0"));
  }
  absl::MutexLock lock(&mu_);
  if (absl::StatusOr<SweepRecord> sweep = GetSweepLocked(sweep_id, op); !sweep.ok()) {
    return sweep.status();
  }
  absl::StatusOr<Statement> select = db_->Prepare(
      "SELECT point, layer, payload, checksum FROM layers WHERE sweep_id = ?1 "
      "ORDER BY point, layer LIMIT ?2 OFFSET ?3",
      op);
  if (!select.ok()) return select.status();
  select->BindText(1, sweep_id);
  select->BindInt(2, limit);
  select->BindInt(3, offset);
  std::vector<v1::LayerStats> layers;
  while (true) {
    absl::StatusOr<bool> row = select->Step(op);
    if (!row.ok()) return row.status();
    if (!*row) break;
    absl::StatusOr<v1::LayerStats> layer =
        Decode<v1::LayerStats>(LayerKey(sweep_id, select->ColumnInt(0), select->ColumnInt(1)),
                               select->ColumnBlob(2), select->ColumnInt(3), op, "layer");
    if (!layer.ok()) return layer.status();
    layers.push_back(*std::move(layer));
  }
  return layers;
}

absl::StatusOr<std::vector<v1::CompareRow>> JobStore::ReadCompareRows(const std::string& sweep_id,
                                                                      int64_t offset, int limit) {
  const std::string op = SweepOp("ReadCompareRows", sweep_id);
  if (offset < 0 || limit < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": offset ", offset, " and limit ", limit, " must be >= 0"));
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<SweepRecord> sweep = GetSweepLocked(sweep_id, op);
  if (!sweep.ok()) return sweep.status();
  std::vector<v1::CompareRow> rows;
  if (!sweep->comparison) return rows;
  absl::StatusOr<Statement> select = db_->Prepare(
      "SELECT point, row, payload, checksum FROM compare_rows WHERE sweep_id = ?1 "
      "ORDER BY point, row LIMIT ?2 OFFSET ?3",
      op);
  if (!select.ok()) return select.status();
  select->BindText(1, sweep_id);
  select->BindInt(2, limit);
  select->BindInt(3, offset);
  while (true) {
    absl::StatusOr<bool> row = select->Step(op);
    if (!row.ok()) return row.status();
    if (!*row) break;
    absl::StatusOr<v1::CompareRow> decoded = Decode<v1::CompareRow>(
        CompareRowKey(sweep_id, select->ColumnInt(0), select->ColumnInt(1)), select->ColumnBlob(2),
        select->ColumnInt(3), op, "comparison row");
    if (!decoded.ok()) return decoded.status();
    rows.push_back(*std::move(decoded));
  }
  return rows;
}

absl::StatusOr<std::vector<JobStore::PendingPoint>> JobStore::UnfinishedPoints() {
  constexpr absl::string_view kOp = "UnfinishedPoints";
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Statement> select = db_->Prepare(
      "SELECT s.id, s.owner, p.point FROM sweeps AS s JOIN points AS p ON p.sweep_id = s.id "
      "WHERE s.state IN (?1, ?2) AND p.state != ?3 "
      "ORDER BY s.created_unix_ms, s.rowid, p.point",
      kOp);
  if (!select.ok()) return select.status();
  select->BindInt(1, v1::SweepStatus::QUEUED);
  select->BindInt(2, v1::SweepStatus::RUNNING);
  select->BindInt(3, static_cast<int>(PointState::kDone));
  std::vector<PendingPoint> points;
  while (true) {
    absl::StatusOr<bool> row = select->Step(kOp);
    if (!row.ok()) return row.status();
    if (!*row) break;
    points.push_back({select->ColumnText(0), select->ColumnText(1),
                      static_cast<int>(select->ColumnInt(2))});
  }
  return points;
}

absl::StatusOr<std::vector<std::string>> JobStore::SweepsWithEveryPointDone() {
  const std::string op = "SweepsWithEveryPointDone";
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Statement> select = db_->Prepare(
      "SELECT id FROM sweeps WHERE state IN (?1, ?2) AND points_done >= points_total "
      "ORDER BY created_unix_ms, id",
      op);
  if (!select.ok()) return select.status();
  select->BindInt(1, v1::SweepStatus::QUEUED);
  select->BindInt(2, v1::SweepStatus::RUNNING);
  std::vector<std::string> ids;
  while (true) {
    absl::StatusOr<bool> row = select->Step(op);
    if (!row.ok()) return row.status();
    if (!*row) break;
    ids.push_back(select->ColumnText(0));
  }
  return ids;
}

absl::StatusOr<int> JobStore::CountActiveSweeps(const std::string& owner) {
  const std::string op = absl::StrCat("CountActiveSweeps owner '", owner, "'");
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Statement> select = db_->Prepare(
      "SELECT count(*) FROM sweeps WHERE (?1 = '' OR owner = ?1) AND state IN (?2, ?3)", op);
  if (!select.ok()) return select.status();
  select->BindText(1, owner);
  select->BindInt(2, v1::SweepStatus::QUEUED);
  select->BindInt(3, v1::SweepStatus::RUNNING);
  absl::StatusOr<bool> row = select->Step(op);
  if (!row.ok()) return row.status();
  return static_cast<int>(select->ColumnInt(0));
}

}  // namespace sigprop::server
