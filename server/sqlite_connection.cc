#include "server/sqlite_connection.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace sigprop::server {

absl::Status SqliteStatus(int rc, absl::string_view operation, absl::string_view sqlite_message) {
  const std::string detail = absl::StrCat(operation, ": ", sqlite_message, " (sqlite ", rc, ")");
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(absl::StrCat(operation, ": disk full: ", sqlite_message));
    case SQLITE_READONLY:
      return absl::FailedPreconditionError(detail);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(detail);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(detail);
    default:
      return absl::InternalError(detail);
  }
}

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void Statement::BindInt(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }

void Statement::BindText(int index, absl::string_view value) {
  sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
}

void Statement::BindBlob(int index, absl::string_view value) {
  // A zero-length blob must still be a blob, not NULL: pass a non-null pointer.
  sqlite3_bind_blob(stmt_, index, value.empty() ? "" : value.data(), static_cast<int>(value.size()),
                    SQLITE_TRANSIENT);
}

absl::StatusOr<bool> Statement::Step(absl::string_view operation) {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteStatus(rc, operation, sqlite3_errmsg(db_));
}

absl::Status Statement::Run(absl::string_view operation) {
  absl::StatusOr<bool> row = Step(operation);
  if (!row.ok()) return row.status();
  if (*row) return absl::InternalError(absl::StrCat(operation, ": statement returned a row"));
  return absl::OkStatus();
}

int64_t Statement::ColumnInt(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(stmt_, column));
}

absl::string_view Statement::ColumnBlob(int column) const {
  const void* blob = sqlite3_column_blob(stmt_, column);
  if (blob == nullptr) return {};
  return absl::string_view(static_cast<const char*>(blob), sqlite3_column_bytes(stmt_, column));
}

absl::StatusOr<std::unique_ptr<SqliteConnection>> SqliteConnection::Open(const std::string& filename,
                                                                         int flags) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(filename.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return SqliteStatus(rc, "sqlite3_open_v2", message);
  }
  sqlite3_extended_result_codes(db, 1);
  return std::unique_ptr<SqliteConnection>(new SqliteConnection(db));
}

SqliteConnection::~SqliteConnection() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

absl::Status SqliteConnection::Exec(const char* sql, absl::string_view operation) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return absl::OkStatus();
  const std::string message = error != nullptr ? error : sqlite3_errstr(rc);
  sqlite3_free(error);
  return SqliteStatus(rc, operation, message);
}

absl::StatusOr<Statement> SqliteConnection::Prepare(const char* sql, absl::string_view operation) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return SqliteStatus(rc, operation, sqlite3_errmsg(db_));
    it = statements_.emplace(sql, stmt).first;
  }
  return Statement(db_, it->second);
}

absl::StatusOr<Transaction> Transaction::Begin(SqliteConnection& connection,
                                               absl::string_view operation) {
  absl::Status begun = connection.Exec("BEGIN IMMEDIATE", operation);
  if (!begun.ok()) return begun;
  return Transaction(&connection);
}

Transaction::~Transaction() {
  // SQLite may already have rolled back on its own (e.g. after SQLITE_FULL); ROLLBACK then fails.
  if (connection_ != nullptr && sqlite3_get_autocommit(connection_->handle()) == 0) {
    connection_->Exec("ROLLBACK", "ROLLBACK").IgnoreError();
  }
}

absl::Status Transaction::Commit(absl::string_view operation) {
  absl::Status committed = connection_->Exec("COMMIT", operation);
  // A failed COMMIT leaves the transaction open (e.g. SQLITE_BUSY); the destructor rolls it back.
  if (committed.ok()) connection_ = nullptr;
  return committed;
}

}  // namespace sigprop::server
