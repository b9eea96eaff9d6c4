// Every SQL statement of the job store (job_store.h), in one table, and the helpers that prepare,
// bind and run them. The statements are string literals: SqliteConnection caches prepared
// statements by the text's address, so each must live as long as the connection.
#ifndef SIGPROP_SERVER_STORE_STATEMENTS_H_
#define SIGPROP_SERVER_STORE_STATEMENTS_H_

#include <cstdint>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/sqlite_connection.h"

namespace sigprop::server::sql {

// The table of comparison rows: in the schema, and added by the upgrade from version 1.
#define SIGPROP_COMPARE_ROWS_TABLE                                           \
  "CREATE TABLE compare_rows (sweep_id TEXT NOT NULL, point INTEGER NOT NULL, " \
  "row INTEGER NOT NULL, payload BLOB NOT NULL, checksum INTEGER NOT NULL, "    \
  "PRIMARY KEY (sweep_id, point, row)) WITHOUT ROWID;\n"

// Schema version 2 (comparisons are sweeps: sweeps.kind, compare_rows).
inline constexpr int64_t kSchemaVersion = 2;
inline constexpr char kSchema[] = R"sql(
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
PRAGMA application_id = 1397182546;
PRAGMA user_version = 2;
)sql" SIGPROP_COMPARE_ROWS_TABLE;

// Version 1 → 2, in place: a column and a table added, nothing rewritten.
inline constexpr char kUpgradeFrom1[] = R"sql(
ALTER TABLE sweeps ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
PRAGMA user_version = 2;
)sql" SIGPROP_COMPARE_ROWS_TABLE;

// The columns SweepFromRow reads, in its order; `kind` is "0" in a version-1 file, which holds
// SweepSpecs only.
#define SIGPROP_SWEEP_COLUMNS(kind)                                                            \
  "id, owner, spec, spec_checksum, points_total, points_done, state, error, created_unix_ms, " \
  "last_sequence, " kind

// sweeps
inline constexpr char kSweepExists[] = "SELECT 1 FROM sweeps WHERE id = ?1";
inline constexpr char kInsertSweep[] =
    "INSERT INTO sweeps (id, owner, spec, spec_checksum, points_total, points_done, state, error, "
    "created_unix_ms, last_sequence, kind) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?8, 0, ?9)";
inline constexpr char kSweepState[] = "SELECT state FROM sweeps WHERE id = ?1";
inline constexpr char kSetSweepState[] = "UPDATE sweeps SET state = ?2, error = ?3 WHERE id = ?1";
inline constexpr char kLastSequence[] = "SELECT last_sequence FROM sweeps WHERE id = ?1";
inline constexpr char kSetLastSequence[] = "UPDATE sweeps SET last_sequence = ?2 WHERE id = ?1";
inline constexpr char kCountPointDone[] =
    "UPDATE sweeps SET points_done = points_done + 1 WHERE id = ?1";
inline constexpr char kGetSweep[] =
    "SELECT " SIGPROP_SWEEP_COLUMNS("kind") " FROM sweeps WHERE id = ?1";
inline constexpr char kGetSweepV1[] =
    "SELECT " SIGPROP_SWEEP_COLUMNS("0") " FROM sweeps WHERE id = ?1";
inline constexpr char kListSweeps[] =
    "SELECT " SIGPROP_SWEEP_COLUMNS("kind") " FROM sweeps WHERE ?1 = '' OR owner = ?1 "
    "ORDER BY created_unix_ms DESC, rowid DESC";
inline constexpr char kListSweepsV1[] =
    "SELECT " SIGPROP_SWEEP_COLUMNS("0") " FROM sweeps WHERE ?1 = '' OR owner = ?1 "
    "ORDER BY created_unix_ms DESC, rowid DESC";
inline constexpr char kSweepsWithEveryPointDone[] =
    "SELECT id FROM sweeps WHERE state IN (?1, ?2) AND points_done >= points_total "
    "ORDER BY created_unix_ms, id";
inline constexpr char kCountActiveSweeps[] =
    "SELECT count(*) FROM sweeps WHERE (?1 = '' OR owner = ?1) AND state IN (?2, ?3)";
#undef SIGPROP_SWEEP_COLUMNS
#undef SIGPROP_COMPARE_ROWS_TABLE

// points
inline constexpr char kInsertPoint[] =
    "INSERT INTO points (sweep_id, point, state) VALUES (?1, ?2, ?3)";
inline constexpr char kPointState[] = "SELECT state FROM points WHERE sweep_id = ?1 AND point = ?2";
inline constexpr char kSetPointState[] =
    "UPDATE points SET state = ?3 WHERE sweep_id = ?1 AND point = ?2";
inline constexpr char kUnfinishedPoints[] =
    "SELECT s.id, s.owner, p.point FROM sweeps AS s JOIN points AS p ON p.sweep_id = s.id "
    "WHERE s.state IN (?1, ?2) AND p.state != ?3 ORDER BY s.created_unix_ms, s.rowid, p.point";

// events and results
inline constexpr char kInsertEvent[] =
    "INSERT INTO events (sweep_id, sequence, payload, checksum) VALUES (?1, ?2, ?3, ?4)";
inline constexpr char kReadEvents[] =
    "SELECT sequence, payload, checksum FROM events WHERE sweep_id = ?1 AND sequence > ?2 "
    "ORDER BY sequence LIMIT ?3";
inline constexpr char kInsertLayer[] =
    "INSERT INTO layers (sweep_id, point, layer, payload, checksum) VALUES (?1, ?2, ?3, ?4, ?5)";
inline constexpr char kReadLayers[] =
    "SELECT point, layer, payload, checksum FROM layers WHERE sweep_id = ?1 "
    "ORDER BY point, layer LIMIT ?2 OFFSET ?3";
inline constexpr char kInsertCompareRow[] =
    "INSERT INTO compare_rows (sweep_id, point, row, payload, checksum) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
inline constexpr char kReadCompareRows[] =
    "SELECT point, row, payload, checksum FROM compare_rows WHERE sweep_id = ?1 "
    "ORDER BY point, row LIMIT ?2 OFFSET ?3";

// A BLOB parameter (a plain string binds as TEXT).
struct Blob {
  absl::string_view bytes;
};

inline void BindOne(Statement& statement, int index, absl::string_view text) {
  statement.BindText(index, text);
}
inline void BindOne(Statement& statement, int index, const std::string& text) {
  statement.BindText(index, text);
}
inline void BindOne(Statement& statement, int index, const char* text) {
  statement.BindText(index, text);
}
inline void BindOne(Statement& statement, int index, Blob blob) {
  statement.BindBlob(index, blob.bytes);
}
template <typename Integer,
          std::enable_if_t<std::is_integral_v<Integer> || std::is_enum_v<Integer>, int> = 0>
void BindOne(Statement& statement, int index, Integer value) {
  statement.BindInt(index, static_cast<int64_t>(value));
}

// `sql` prepared (cached) with ?1, ?2, … bound to `args` in order.
template <typename... Args>
absl::StatusOr<Statement> Bound(SqliteConnection& db, const char* sql, absl::string_view operation,
                                const Args&... args) {
  absl::StatusOr<Statement> statement = db.Prepare(sql, operation);
  if (!statement.ok()) return statement;
  int index = 0;
  (BindOne(*statement, ++index, args), ...);
  return statement;
}

// Runs a statement that returns no rows.
template <typename... Args>
absl::Status Execute(SqliteConnection& db, const char* sql, absl::string_view operation,
                     const Args&... args) {
  absl::StatusOr<Statement> statement = Bound(db, sql, operation, args...);
  if (!statement.ok()) return statement.status();
  return statement->Run(operation);
}

// The first row's integer column 0, or nullopt-like `found = false` when there is no row.
template <typename... Args>
absl::StatusOr<bool> FirstInt(SqliteConnection& db, const char* sql, absl::string_view operation,
                              int64_t* value, const Args&... args) {
  absl::StatusOr<Statement> statement = Bound(db, sql, operation, args...);
  if (!statement.ok()) return statement.status();
  absl::StatusOr<bool> found = statement->Step(operation);
  if (!found.ok() || !*found) return found;
  *value = statement->ColumnInt(0);
  return true;
}

}  // namespace sigprop::server::sql

#endif  // SIGPROP_SERVER_STORE_STATEMENTS_H_
