// A thin RAII layer over one SQLite connection: cached prepared statements, transactions that roll
// back unless committed, and one mapping of SQLite result codes to absl::Status. The job store is the
// only user; it keeps SQL and schema knowledge, this file keeps the C API's sharp edges.
//
// Not thread-safe by itself: the owner serialises every call (SQLite is opened NOMUTEX).
#ifndef SIGPROP_SERVER_SQLITE_CONNECTION_H_
#define SIGPROP_SERVER_SQLITE_CONNECTION_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigprop::server {

// The status for SQLite result `rc` during `operation` (e.g. "AppendEvent sweep 'x'"):
// SQLITE_FULL → ResourceExhausted ("disk full"), SQLITE_READONLY → FailedPrecondition,
// SQLITE_CORRUPT/NOTADB → DataLoss, SQLITE_BUSY/LOCKED → Unavailable, anything else → Internal.
absl::Status SqliteStatus(int rc, absl::string_view operation, absl::string_view sqlite_message);

// A prepared statement borrowed from the connection's cache; reset and unbound when it goes out of
// scope, so the next user starts clean. Indices are 1-based (binds) and 0-based (columns), as in C.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  void BindInt(int index, int64_t value);
  void BindText(int index, absl::string_view value);
  void BindBlob(int index, absl::string_view value);

  // Advances: true with a row, false when done; an error names `operation`.
  absl::StatusOr<bool> Step(absl::string_view operation);
  // Runs a statement that returns no rows.
  absl::Status Run(absl::string_view operation);

  int64_t ColumnInt(int column) const;
  std::string ColumnText(int column) const;
  // Valid until the next Step or the end of the statement's scope.
  absl::string_view ColumnBlob(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class SqliteConnection {
 public:
  // `flags` as for sqlite3_open_v2 (NOMUTEX and extended result codes are added). Opening only
  // creates the handle: SQLite reads the file lazily, so a bad file shows up on the first statement.
  static absl::StatusOr<std::unique_ptr<SqliteConnection>> Open(const std::string& filename,
                                                                int flags);
  ~SqliteConnection();
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  // Runs one or more statements that return no rows (schema, pragmas).
  absl::Status Exec(const char* sql, absl::string_view operation);
  // The cached statement for `sql`, prepared on first use. `sql` must outlive the connection (a
  // string literal), which is what makes it a stable cache key.
  absl::StatusOr<Statement> Prepare(const char* sql, absl::string_view operation);
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int Changes() const { return sqlite3_changes(db_); }
  // True when SQLite opened the main database read-only (e.g. the file is not writable).
  bool ReadOnly() const { return sqlite3_db_readonly(db_, "main") == 1; }
  sqlite3* handle() const { return db_; }

 private:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  absl::flat_hash_map<const char*, sqlite3_stmt*> statements_;
};

// BEGIN IMMEDIATE … COMMIT; rolls back in the destructor unless committed. IMMEDIATE takes the write
// lock up front, so a busy database fails before any change rather than half-way through.
class Transaction {
 public:
  static absl::StatusOr<Transaction> Begin(SqliteConnection& connection, absl::string_view operation);
  Transaction(Transaction&& other) noexcept : connection_(other.connection_) {
    other.connection_ = nullptr;
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  absl::Status Commit(absl::string_view operation);

 private:
  explicit Transaction(SqliteConnection* connection) : connection_(connection) {}
  SqliteConnection* connection_;  // nullptr once committed or moved from.
};

}  // namespace sigprop::server

#endif  // SIGPROP_SERVER_SQLITE_CONNECTION_H_
