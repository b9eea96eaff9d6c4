// The durable record of every sweep: its spec, its points' states, its event log and its results, in
// one SQLite file (WAL mode, synchronous=FULL) — or, for the CLI's embedded server, in a scratch
// store that dies with the process (OpenScratch, ADR 0012).
//
// Why it looks like this:
// - Every event gets its sweep's next sequence number inside the transaction that stores it, so the
//   log is the single source for Watch: a watcher reattaching from k reads sequence > k from here
//   and then follows live events, with no gap and no duplicate.
// - A finished point (its LayerStats events, its results, its DONE mark) is one transaction: after a
//   kill -9 either all of it is there or none, and a re-run (results are a pure function of spec and
//   seed) cannot store a point twice.
// - Payloads are deterministic protobuf bytes with a checksum over (key, payload) beside them
//   (payload_checksum.h); a mismatch is DataLoss, never a wrong result. Open refuses a file that
//   fails PRAGMA quick_check, is not a sigprop store, or has a schema version this build cannot read.
//   Version 1 (before comparisons were sweeps) is upgraded in place to 2 when opened writable —
//   a column and a table added, nothing rewritten — and read as it is when opened read-only.
// - A file we may not write is opened read-only and reported by read_only(): every read works, every
//   write is FailedPrecondition. A full disk is ResourceExhausted("disk full").
//
// Thread-safety: one connection behind one mutex. SQLite serialises writers anyway, every call is a
// short statement or transaction, and a single connection means our own threads can never see
// SQLITE_BUSY from each other.
#ifndef SIGPROP_SERVER_JOB_STORE_H_
#define SIGPROP_SERVER_JOB_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/sqlite_connection.h"
#include "sigprop/v1/compare.pb.h"
#include "sigprop/v1/results.pb.h"
#include "sigprop/v1/run.pb.h"
#include "sigprop/v1/service.pb.h"

namespace sigprop::server {

enum class PointState { kQueued = 0, kRunning = 1, kDone = 2, kFailed = 3, kCancelled = 4 };

struct SweepRecord {
  std::string id;
  std::string owner;
  // A sweep is a SweepSpec's (`spec`) or a comparison's (`compare`, with `comparison` true).
  bool comparison = false;
  v1::SweepSpec spec;
  v1::CompareSweep compare;
  int points_total = 0;
  int points_done = 0;
  v1::SweepStatus::State state = v1::SweepStatus::QUEUED;
  std::string error;
  int64_t created_unix_ms = 0;
  int64_t last_sequence = 0;
  // The sweep points this submission runs (SubmitRequest.points); empty means 0..points_total−1.
  // Only CreateSweep reads it; the point rows are the record afterwards.
  std::vector<int> points;
  v1::SweepStatus ToProto() const;  // Fills every SweepStatus field.
};

// True for SUCCEEDED, FAILED and CANCELLED: the states a sweep never leaves.
bool IsTerminal(v1::SweepStatus::State state);

class JobStore {
 public:
  struct OpenOptions {
    // How long a statement waits for another process's lock before failing with Unavailable.
    int busy_timeout_ms = 5000;
    // Open read-only even if the file is writable (inspection, or serving a frozen copy).
    bool read_only = false;
  };

  // Opens or creates the db (see the file comment). A corrupt, unreadable or foreign file is
  // FailedPrecondition naming the path and what SQLite said.
  static absl::StatusOr<std::unique_ptr<JobStore>> Open(const std::string& path);
  static absl::StatusOr<std::unique_ptr<JobStore>> Open(const std::string& path,
                                                        const OpenOptions& options);
  // A private store that dies with the process, for the CLI's embedded server: SQLite's temporary
  // database, held in memory up to `cache_bytes` and spilled beyond that to a temporary file that
  // SQLite deletes as it creates it ($SQLITE_TMPDIR, else $TMPDIR, else /var/tmp, /usr/tmp, /tmp),
  // its rollback journal in memory, nothing synced. No other process ever reads it, so the WAL's
  // system calls (frames, -shm locks) buy nothing there (ADR 0012). path() is "(scratch)".
  static constexpr int64_t kScratchCacheBytes = int64_t{64} << 20;
  static absl::StatusOr<std::unique_ptr<JobStore>> OpenScratch(
      int64_t cache_bytes = kScratchCacheBytes);
  ~JobStore();

  bool read_only() const { return read_only_; }
  // PRAGMA synchronous of the store's connection: 2 (FULL: every commit waits for the WAL to reach
  // the disk, so a finished result survives power loss) for a file, 0 (OFF) for a scratch store.
  absl::StatusOr<int> SynchronousLevel() const;
  const std::string& path() const { return path_; }

  // Stores the sweep and one QUEUED row per point; points_done and last_sequence start at 0.
  // AlreadyExists if the id is taken.
  absl::Status CreateSweep(const SweepRecord& sweep);
  // Appends one event; assigns sequence = last + 1 and sweep_id; returns the stored event.
  // FailedPrecondition once the sweep has ended: nothing follows its SweepFinished event.
  absl::StatusOr<v1::Event> AppendEvent(const std::string& sweep_id, v1::Event event);
  // The same for several events, in one transaction: all of them, consecutively, or none.
  absl::StatusOr<std::vector<v1::Event>> AppendEvents(const std::string& sweep_id,
                                                      std::vector<v1::Event> events);
  // One transaction: a LayerStats event per layer then a PointFinished event, the layers for
  // ReadLayers, the point marked DONE, points_done bumped. Every layer must carry `point`.
  // Returns the PointFinished event's sequence (ReadEvents has them all).
  // FailedPrecondition (and nothing stored) if the point is already DONE; NotFound if no such point.
  absl::StatusOr<int64_t> CompletePoint(const std::string& sweep_id, int point,
                                        const std::vector<v1::LayerStats>& layers);
  // The same for a comparison's point: a CompareRow event per row, then PointFinished, the rows
  // for ReadCompareRows. Every row must carry `point`.
  absl::StatusOr<int64_t> CompleteComparePoint(const std::string& sweep_id, int point,
                                               const std::vector<v1::CompareRow>& rows);
  // Any state but kDone, which only CompletePoint may set (it stores the results with it).
  absl::Status SetPointState(const std::string& sweep_id, int point, PointState state);
  // Sets QUEUED/RUNNING, or a terminal state together with its SweepFinished event (returned).
  // A terminal sweep never changes again: FailedPrecondition, so a cancel racing the last point's
  // completion cannot produce two SweepFinished events.
  absl::StatusOr<std::optional<v1::Event>> SetSweepState(const std::string& sweep_id,
                                                         v1::SweepStatus::State state,
                                                         const std::string& error);
  // Events with sequence > after, ascending, at most `limit`. NotFound if the sweep is unknown.
  absl::StatusOr<std::vector<v1::Event>> ReadEvents(const std::string& sweep_id, int64_t after,
                                                    int limit);
  absl::StatusOr<SweepRecord> GetSweep(const std::string& id);  // NotFound naming the id.
  // owner "" lists every sweep; newest first.
  absl::StatusOr<std::vector<SweepRecord>> ListSweeps(const std::string& owner);
  // LayerStats of finished points in (point, layer) order, from `offset`, at most `limit`.
  absl::StatusOr<std::vector<v1::LayerStats>> ReadLayers(const std::string& sweep_id,
                                                         int64_t offset, int limit);

  // CompareRows of finished points in (point, row) order, from `offset`, at most `limit`.
  absl::StatusOr<std::vector<v1::CompareRow>> ReadCompareRows(const std::string& sweep_id,
                                                              int64_t offset, int limit);

  // Points of non-terminal sweeps that are not DONE, oldest sweep first, then point order (used on
  // restart to re-queue them; RUNNING points of a killed server count as unfinished).
  struct PendingPoint {
    std::string sweep_id;
    std::string owner;
    int point;
  };
  absl::StatusOr<std::vector<PendingPoint>> UnfinishedPoints();
  // QUEUED or RUNNING sweeps whose every point is DONE: a server killed between storing a sweep's
  // last point and marking the sweep SUCCEEDED leaves these; restart finishes them.
  absl::StatusOr<std::vector<std::string>> SweepsWithEveryPointDone();
  // QUEUED or RUNNING sweeps of `owner` ("" counts everyone's).
  absl::StatusOr<int> CountActiveSweeps(const std::string& owner);

 private:
  JobStore(std::string path, std::unique_ptr<SqliteConnection> db, bool read_only,
           int64_t schema_version)
      : path_(std::move(path)),
        db_(std::move(db)),
        read_only_(read_only),
        schema_version_(schema_version) {}

  // A results table's row: its word in errors ("layer", "row"), its INSERT, its checksum key,
  // its index within the point, and how it goes into an event.
  template <typename Row>
  struct ResultTable {
    const char* word;
    const char* insert_sql;
    std::string (*key)(absl::string_view sweep_id, int64_t point, int64_t index);
    int64_t (*index)(const Row& row, size_t position);
    int event_field;  // The row's field of v1::Event.
  };
  // Stores one finished point in one transaction: checks it is not DONE, appends an event and a
  // table row per result row, then PointFinished, marks the point DONE and counts it.
  template <typename Row>
  absl::StatusOr<int64_t> CompleteRows(const std::string& sweep_id, int point,
                                       const std::vector<Row>& rows, const ResultTable<Row>& table);

  absl::Status CheckWritable(absl::string_view operation) const;
  // FailedPrecondition once the sweep has ended; NotFound for no such sweep.
  absl::Status CheckNotEndedLocked(const std::string& sweep_id, absl::string_view operation)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // FailedPrecondition once the point is DONE; NotFound for no such point.
  absl::Status CheckPointNotDoneLocked(const std::string& sweep_id, int point,
                                       absl::string_view operation)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Pages of a results table (layers or compare_rows) in (point, row) order.
  template <typename Row>
  absl::StatusOr<std::vector<Row>> ReadResults(
      const std::string& sweep_id, int64_t offset, int limit, const char* select_sql,
      absl::string_view what, std::string (*key)(absl::string_view, int64_t, int64_t),
      absl::string_view operation);
  absl::StatusOr<v1::Event> AppendEventLocked(const std::string& sweep_id, v1::Event event,
                                              absl::string_view operation)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The sweep's last_sequence; NotFound for no such sweep.
  absl::StatusOr<int64_t> LastSequenceLocked(const std::string& sweep_id,
                                             absl::string_view operation)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One event's row, its payload already serialized; last_sequence is the caller's to set.
  absl::Status InsertEventLocked(const std::string& sweep_id, int64_t sequence,
                                 const std::string& payload, absl::string_view operation)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<SweepRecord> GetSweepLocked(const std::string& id, absl::string_view operation)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  mutable absl::Mutex mu_;
  const std::unique_ptr<SqliteConnection> db_ ABSL_PT_GUARDED_BY(mu_);
  const bool read_only_;
  // 1: sweeps of SweepSpecs only (a file of an older build, opened read-only); 2: comparisons too.
  const int64_t schema_version_;
};

}  // namespace sigprop::server

#endif  // SIGPROP_SERVER_JOB_STORE_H_
