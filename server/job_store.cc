#include "server/job_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"
#include "server/payload_checksum.h"
#include "server/store_statements.h"

namespace sigprop::server {
namespace {

// "SGPR": marks the file as ours, so a stray SQLite file is refused rather than written into.
constexpr int64_t kApplicationId = 0x53475052;
using sql::Blob;
using sql::Bound;
using sql::Execute;
using sql::FirstInt;
using sql::kSchemaVersion;

// sweeps.kind: what the spec column holds.
constexpr int64_t kSweepSpecKind = 0;
constexpr int64_t kCompareSweepKind = 1;
static_assert(kApplicationId == 1397182546, "sql::kSchema spells the application id in decimal");

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

// What Serialize gives for Event{sweep_id, sequence, point} with the row whose serialized bytes are
// `row` in its field `field`, without copying the row into an event: deterministic serialization
// writes fields in number order, the row's after these three, and a nested message as its own
// bytes behind its tag and length.
std::string EventWithRowBytes(const std::string& sweep_id, int64_t sequence, int point, int field,
                              const std::string& row) {
  v1::Event header;
  header.set_sweep_id(sweep_id);
  header.set_sequence(sequence);
  header.set_point(point);
  std::string bytes = Serialize(header);
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.WriteTag(google::protobuf::internal::WireFormatLite::MakeTag(
        field, google::protobuf::internal::WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
    coded.WriteVarint32(static_cast<uint32_t>(row.size()));
    coded.WriteRaw(row.data(), static_cast<int>(row.size()));
  }
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

// Reads a row selected with sql::kGetSweep or sql::kListSweeps.
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
    if (absl::Status created = db.Exec(sql::kSchema, "create schema"); !created.ok()) return created;
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
    if (absl::Status upgraded = db.Exec(sql::kUpgradeFrom1, "upgrade schema 1 to 2"); !upgraded.ok()) {
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

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::OpenScratch(int64_t cache_bytes) {
  const std::string where = "scratch job store";
  // The empty file name is SQLite's private temporary database.
  absl::StatusOr<std::unique_ptr<SqliteConnection>> db =
      Connect("", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, OpenOptions().busy_timeout_ms);
  if (!db.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot open a ", where, ": ", db.status().message()));
  }
  absl::StatusOr<std::string> mode = PragmaText(**db, "PRAGMA journal_mode = MEMORY");
  if (!mode.ok() || *mode != "memory") {
    return absl::FailedPreconditionError(absl::StrCat(
        where, ": cannot keep the journal in memory: ", mode.ok() ? *mode : mode.status().message()));
  }
  // A negative cache_size is in KiB.
  const std::string cache = absl::StrCat("PRAGMA cache_size = -", std::max<int64_t>(1, cache_bytes >> 10));
  for (const char* pragma : {"PRAGMA synchronous = OFF", cache.c_str()}) {
    if (absl::Status set = (*db)->Exec(pragma, pragma); !set.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(where, ": ", set.message()));
    }
  }
  absl::StatusOr<int64_t> schema = EnsureSchema(**db, /*read_only=*/false);
  if (!schema.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(where, ": ", schema.status().message()));
  }
  return std::unique_ptr<JobStore>(new JobStore("(scratch)", *std::move(db), false, *schema));
}

JobStore::~JobStore() = default;

absl::StatusOr<int> JobStore::SynchronousLevel() const {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::string> level = PragmaText(*db_, "PRAGMA synchronous");
  if (!level.ok()) return level.status();
  int value = 0;
  if (!absl::SimpleAtoi(*level, &value)) {
    return absl::InternalError(absl::StrCat("PRAGMA synchronous returned '", *level, "'"));
  }
  return value;
}

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
  if (!sweep.points.empty() && static_cast<int>(sweep.points.size()) != sweep.points_total) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", sweep.points.size(),
                                                   " points listed but points_total is ",
                                                   sweep.points_total));
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Transaction> transaction = Transaction::Begin(*db_, op);
  if (!transaction.ok()) return transaction.status();
  int64_t unused = 0;
  absl::StatusOr<bool> exists = FirstInt(*db_, sql::kSweepExists, op, &unused, sweep.id);
  if (!exists.ok()) return exists.status();
  if (*exists) return absl::AlreadyExistsError(absl::StrCat(op, ": the id is taken"));
  const std::string spec = sweep.comparison ? Serialize(sweep.compare) : Serialize(sweep.spec);
  if (absl::Status inserted =
          Execute(*db_, sql::kInsertSweep, op, sweep.id, sweep.owner, Blob{spec},
                  PayloadChecksum(sweep.id, spec), sweep.points_total, sweep.state, sweep.error,
                  sweep.created_unix_ms, sweep.comparison ? kCompareSweepKind : kSweepSpecKind);
      !inserted.ok()) {
    return inserted;
  }
  for (int i = 0; i < sweep.points_total; ++i) {
    const int point = sweep.points.empty() ? i : sweep.points[i];
    if (absl::Status inserted = Execute(*db_, sql::kInsertPoint, op, sweep.id, point,
                                        static_cast<int>(PointState::kQueued));
        !inserted.ok()) {
      return inserted;
    }
  }
  return transaction->Commit(op);
}

absl::StatusOr<int64_t> JobStore::LastSequenceLocked(const std::string& sweep_id,
                                                     absl::string_view operation) {
  int64_t last = 0;
  absl::StatusOr<bool> found = FirstInt(*db_, sql::kLastSequence, operation, &last, sweep_id);
  if (!found.ok()) return found.status();
  if (!*found) return absl::NotFoundError(absl::StrCat(operation, ": no such sweep"));
  return last;
}

absl::Status JobStore::InsertEventLocked(const std::string& sweep_id, int64_t sequence,
                                         const std::string& payload, absl::string_view operation) {
  return Execute(*db_, sql::kInsertEvent, operation, sweep_id, sequence, Blob{payload},
                 PayloadChecksum(EventKey(sweep_id, sequence), payload));
}

absl::StatusOr<v1::Event> JobStore::AppendEventLocked(const std::string& sweep_id, v1::Event event,
                                                      absl::string_view operation) {
  absl::StatusOr<int64_t> last = LastSequenceLocked(sweep_id, operation);
  if (!last.ok()) return last.status();
  const int64_t sequence = *last + 1;
  event.set_sweep_id(sweep_id);
  event.set_sequence(sequence);
  if (absl::Status inserted = InsertEventLocked(sweep_id, sequence, Serialize(event), operation);
      !inserted.ok()) {
    return inserted;
  }
  if (absl::Status bumped = Execute(*db_, sql::kSetLastSequence, operation, sweep_id, sequence);
      !bumped.ok()) {
    return bumped;
  }
  return event;
}

absl::Status JobStore::CheckNotEndedLocked(const std::string& sweep_id, absl::string_view operation) {
  int64_t state = 0;
  absl::StatusOr<bool> found = FirstInt(*db_, sql::kSweepState, operation, &state, sweep_id);
  if (!found.ok()) return found.status();
  if (!*found) return absl::NotFoundError(absl::StrCat(operation, ": no such sweep"));
  const auto current = static_cast<v1::SweepStatus::State>(state);
  if (IsTerminal(current)) {
    return absl::FailedPreconditionError(absl::StrCat(
        operation, ": the sweep already ended as ", v1::SweepStatus::State_Name(current),
        "; its log ends with SweepFinished"));
  }
  return absl::OkStatus();
}

absl::Status JobStore::CheckPointNotDoneLocked(const std::string& sweep_id, int point,
                                               absl::string_view operation) {
  int64_t state = 0;
  absl::StatusOr<bool> found = FirstInt(*db_, sql::kPointState, operation, &state, sweep_id, point);
  if (!found.ok()) return found.status();
  if (!*found) return absl::NotFoundError(absl::StrCat(operation, ": no such point"));
  if (state == static_cast<int>(PointState::kDone)) {
    return absl::FailedPreconditionError(absl::StrCat(operation, ": the point is already done"));
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

template <typename Row>
absl::StatusOr<int64_t> JobStore::CompleteRows(const std::string& sweep_id, int point,
                                               const std::vector<Row>& rows,
                                               const ResultTable<Row>& table) {
  const std::string op = absl::StrCat(SweepOp("CompletePoint", sweep_id), " point ", point);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].point() != point) {
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": ", table.word, "s[", i, "].point is ", rows[i].point()));
    }
  }
  if (absl::Status writable = CheckWritable(op); !writable.ok()) return writable;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Transaction> transaction = Transaction::Begin(*db_, op);
  if (!transaction.ok()) return transaction.status();
  if (absl::Status open = CheckPointNotDoneLocked(sweep_id, point, op); !open.ok()) return open;
  absl::StatusOr<int64_t> last = LastSequenceLocked(sweep_id, op);
  if (!last.ok()) return last.status();
  int64_t sequence = *last;
  for (size_t r = 0; r < rows.size(); ++r) {
    const int64_t index = table.index(rows[r], r);
    const std::string row_op = absl::StrCat(op, " ", table.word, " ", index);
    // The row is serialized once, for its table and inside its event (issue 18: a point's 257
    // rows were each copied into an event and serialized twice, map keys sorted each time).
    const std::string payload = Serialize(rows[r]);
    ++sequence;
    if (absl::Status inserted = InsertEventLocked(
            sweep_id, sequence, EventWithRowBytes(sweep_id, sequence, point, table.event_field, payload),
            row_op);
        !inserted.ok()) {
      return inserted;
    }
    if (absl::Status inserted =
            Execute(*db_, table.insert_sql, row_op, sweep_id, point, index, Blob{payload},
                    PayloadChecksum(table.key(sweep_id, point, index), payload));
        !inserted.ok()) {
      return inserted;
    }
  }
  if (absl::Status bumped = Execute(*db_, sql::kSetLastSequence, op, sweep_id, sequence);
      !bumped.ok()) {
    return bumped;
  }
  v1::Event finished;
  finished.set_point(point);
  finished.mutable_point_finished()->set_layers(static_cast<int>(rows.size()));
  absl::StatusOr<v1::Event> stored = AppendEventLocked(sweep_id, std::move(finished), op);
  if (!stored.ok()) return stored.status();
  if (absl::Status done = Execute(*db_, sql::kSetPointState, op, sweep_id, point,
                                  static_cast<int>(PointState::kDone));
      !done.ok()) {
    return done;
  }
  if (absl::Status counted = Execute(*db_, sql::kCountPointDone, op, sweep_id); !counted.ok()) {
    return counted;
  }
  if (absl::Status committed = transaction->Commit(op); !committed.ok()) return committed;
  return stored->sequence();
}

absl::StatusOr<int64_t> JobStore::CompletePoint(
    const std::string& sweep_id, int point, const std::vector<v1::LayerStats>& layers) {
  static const ResultTable<v1::LayerStats> kLayers{
      "layer", sql::kInsertLayer, LayerKey,
      [](const v1::LayerStats& layer, size_t) -> int64_t { return layer.layer(); },
      v1::Event::kLayerFieldNumber};
  return CompleteRows(sweep_id, point, layers, kLayers);
}

absl::StatusOr<int64_t> JobStore::CompleteComparePoint(
    const std::string& sweep_id, int point, const std::vector<v1::CompareRow>& rows) {
  static const ResultTable<v1::CompareRow> kCompareRows{
      "row", sql::kInsertCompareRow, CompareRowKey,
      [](const v1::CompareRow&, size_t position) -> int64_t { return static_cast<int64_t>(position); },
      v1::Event::kCompareRowFieldNumber};
  return CompleteRows(sweep_id, point, rows, kCompareRows);
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
  if (absl::Status open = CheckPointNotDoneLocked(sweep_id, point, op); !open.ok()) return open;
  if (absl::Status updated =
          Execute(*db_, sql::kSetPointState, op, sweep_id, point, static_cast<int>(state));
      !updated.ok()) {
    return updated;
  }
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
  if (absl::Status open = CheckNotEndedLocked(sweep_id, op); !open.ok()) return open;
  if (absl::Status updated = Execute(*db_, sql::kSetSweepState, op, sweep_id, state, error);
      !updated.ok()) {
    return updated;
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
  absl::StatusOr<Statement> select = Bound(*db_, sql::kReadEvents, op, sweep_id, after, limit);
  if (!select.ok()) return select.status();
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
  absl::StatusOr<Statement> select =
      Bound(*db_, schema_version_ >= 2 ? sql::kGetSweep : sql::kGetSweepV1, operation, id);
  if (!select.ok()) return select.status();
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
  absl::StatusOr<Statement> select =
      Bound(*db_, schema_version_ >= 2 ? sql::kListSweeps : sql::kListSweepsV1, op, owner);
  if (!select.ok()) return select.status();
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

template <typename Row>
absl::StatusOr<std::vector<Row>> JobStore::ReadResults(
    const std::string& sweep_id, int64_t offset, int limit, const char* select_sql,
    absl::string_view what, std::string (*key)(absl::string_view, int64_t, int64_t),
    absl::string_view operation) {
  const std::string op = SweepOp(operation, sweep_id);
  if (offset < 0 || limit < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": offset ", offset, " and limit ", limit, " must be >= 0"));
  }
  absl::MutexLock lock(&mu_);
  if (absl::StatusOr<SweepRecord> sweep = GetSweepLocked(sweep_id, op); !sweep.ok()) {
    return sweep.status();
  }
  std::vector<Row> rows;
  // A version-1 file has no comparison rows (nor their table).
  if (select_sql == sql::kReadCompareRows && schema_version_ < 2) return rows;
  absl::StatusOr<Statement> select = Bound(*db_, select_sql, op, sweep_id, limit, offset);
  if (!select.ok()) return select.status();
  while (true) {
    absl::StatusOr<bool> row = select->Step(op);
    if (!row.ok()) return row.status();
    if (!*row) break;
    absl::StatusOr<Row> decoded =
        Decode<Row>(key(sweep_id, select->ColumnInt(0), select->ColumnInt(1)),
                    select->ColumnBlob(2), select->ColumnInt(3), op, what);
    if (!decoded.ok()) return decoded.status();
    rows.push_back(*std::move(decoded));
  }
  return rows;
}

absl::StatusOr<std::vector<v1::LayerStats>> JobStore::ReadLayers(const std::string& sweep_id,
                                                                 int64_t offset, int limit) {
  return ReadResults<v1::LayerStats>(sweep_id, offset, limit, sql::kReadLayers, "layer", LayerKey,
                                     "ReadLayers");
}

absl::StatusOr<std::vector<v1::CompareRow>> JobStore::ReadCompareRows(const std::string& sweep_id,
                                                                      int64_t offset, int limit) {
  return ReadResults<v1::CompareRow>(sweep_id, offset, limit, sql::kReadCompareRows,
                                     "comparison row", CompareRowKey, "ReadCompareRows");
}

absl::StatusOr<std::vector<JobStore::PendingPoint>> JobStore::UnfinishedPoints() {
  constexpr absl::string_view kOp = "UnfinishedPoints";
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Statement> select =
      Bound(*db_, sql::kUnfinishedPoints, kOp, v1::SweepStatus::QUEUED, v1::SweepStatus::RUNNING,
            static_cast<int>(PointState::kDone));
  if (!select.ok()) return select.status();
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
  absl::StatusOr<Statement> select = Bound(*db_, sql::kSweepsWithEveryPointDone, op,
                                           v1::SweepStatus::QUEUED, v1::SweepStatus::RUNNING);
  if (!select.ok()) return select.status();
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
  int64_t count = 0;
  absl::StatusOr<bool> row = FirstInt(*db_, sql::kCountActiveSweeps, op, &count, owner,
                                      v1::SweepStatus::QUEUED, v1::SweepStatus::RUNNING);
  if (!row.ok()) return row.status();
  return static_cast<int>(count);
}

}  // namespace sigprop::server
