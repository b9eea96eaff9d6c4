// The job store on real SQLite files in a fresh temporary directory: the event log's sequence
// guarantees, atomic point completion, restart, read-only files and corrupt files; and the CLI's
// scratch store (SQLite's temporary database).
#include "server/job_store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace sigprop::server {
namespace {

SweepRecord Sweep(const std::string& id, const std::string& owner, int points,
                  int64_t created_unix_ms) {
  SweepRecord sweep;
  sweep.id = id;
  sweep.owner = owner;
  sweep.spec.set_name(absl::StrCat("name-", id));
  sweep.spec.mutable_base()->set_samples(7);
  sweep.points_total = points;
  sweep.created_unix_ms = created_unix_ms;
  return sweep;
}

v1::Event Progress(int point, int done) {
  v1::Event event;
  event.set_point(point);
  event.mutable_progress()->set_samples_done(done);
  return event;
}

std::vector<v1::LayerStats> Layers(int point, int count) {
  std::vector<v1::LayerStats> layers;
  for (int layer = 0; layer < count; ++layer) {
    v1::LayerStats stats;
    stats.set_point(point);
    stats.set_layer(layer);
    stats.set_t(0.5 * layer);
    (*stats.mutable_stats())["rho_mean"].set_mean(point + 0.01 * layer);
    layers.push_back(stats);
  }
  return layers;
}

std::vector<int64_t> Sequences(const std::vector<v1::Event>& events) {
  std::vector<int64_t> sequences;
  for (const v1::Event& event : events) sequences.push_back(event.sequence());
  return sequences;
}

std::vector<std::pair<int, int>> PointLayers(const std::vector<v1::LayerStats>& layers) {
  std::vector<std::pair<int, int>> keys;
  for (const v1::LayerStats& layer : layers) keys.emplace_back(layer.point(), layer.layer());
  return keys;
}

class JobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/job_store_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/jobs.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<JobStore> OpenStore(JobStore::OpenOptions options = {}) {
    absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(path_, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  void Overwrite(long offset, const std::string& bytes) {
    std::FILE* file = std::fopen(path_.c_str(), "r+b");
    ASSERT_NE(file, nullptr);
    ASSERT_EQ(std::fseek(file, offset, SEEK_SET), 0);
    ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), file), bytes.size());
    ASSERT_EQ(std::fclose(file), 0);
  }

  std::string dir_;
  std::string path_;
};

// A server's store syncs every commit (synchronous = FULL, 2); the CLI's scratch store, which dies
// with its process, syncs none (OFF, 0), and says so on its connection.
TEST_F(JobStoreTest, AFileStoreSyncsEveryCommitAndTheScratchStoreNone) {
  std::unique_ptr<JobStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<int> level = store->SynchronousLevel();
  ASSERT_TRUE(level.ok()) << level.status();
  EXPECT_EQ(*level, 2);

  absl::StatusOr<std::unique_ptr<JobStore>> scratch = JobStore::OpenScratch();
  ASSERT_TRUE(scratch.ok()) << scratch.status();
  level = (*scratch)->SynchronousLevel();
  ASSERT_TRUE(level.ok()) << level.status();
  EXPECT_EQ(*level, 0);
  EXPECT_EQ((*scratch)->path(), "(scratch)");
}

// The scratch store holds what it is given past its memory cache (SQLite spills the rest to a
// temporary file), and its in-memory journal still undoes a transaction that fails midway.
TEST(ScratchJobStoreTest, HoldsMoreThanItsCacheAndUndoesAFailedTransaction) {
  constexpr int64_t kCacheBytes = 64 << 10;
  absl::StatusOr<std::unique_ptr<JobStore>> opened = JobStore::OpenScratch(kCacheBytes);
  ASSERT_TRUE(opened.ok()) << opened.status();
  JobStore& store = **opened;
  constexpr int kPoints = 4, kLayers = 200;
  ASSERT_TRUE(store.CreateSweep(Sweep("s", "alice", kPoints, 1)).ok());

  // About 1.2 KB a row, stored twice (event and layer): ~2 MB, thirty times the cache.
  auto heavy = [](int point) {
    std::vector<v1::LayerStats> layers = Layers(point, kLayers);
    for (v1::LayerStats& layer : layers) {
      for (int k = 0; k < 30; ++k) {
        v1::Summary& summary = (*layer.mutable_stats())[absl::StrCat("statistic_", k)];
        summary.set_mean(point + 1e-3 * layer.layer() + 1e-6 * k);
        for (int bin = 0; bin < 10; ++bin) summary.mutable_histogram()->add_counts(bin + k);
      }
    }
    return layers;
  };
  // SQLite's own count of the memory it holds (this store is the process's only connection).
  sqlite3_int64 used = 0, peak = 0;
  sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &used, &peak, /*resetFlag=*/1);
  const sqlite3_int64 used_before = used;
  size_t bytes = 0;
  std::vector<v1::LayerStats> stored;
  for (int point = 0; point < kPoints; ++point) {
    const std::vector<v1::LayerStats> layers = heavy(point);
    for (const v1::LayerStats& layer : layers) bytes += 2 * layer.ByteSizeLong();
    ASSERT_TRUE(store.CompletePoint("s", point, layers).ok());
    stored.insert(stored.end(), layers.begin(), layers.end());
  }
  ASSERT_GT(bytes, size_t{10} * kCacheBytes);
  // Held on disk beyond the cache, not in memory (":memory:" would hold all of it): the peak stays
  // well under what was stored. Besides the cache, one point's transaction is in flight at a time.
  sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &used, &peak, /*resetFlag=*/0);
  std::printf("stored %zu bytes; SQLite's memory peaked %lld bytes above its start\n", bytes,
              static_cast<long long>(peak - used_before));
  EXPECT_LT(peak - used_before, static_cast<sqlite3_int64>(bytes / 2));

  std::vector<v1::LayerStats> read;
  for (int64_t offset = 0;; offset += 128) {
    absl::StatusOr<std::vector<v1::LayerStats>> page = store.ReadLayers("s", offset, 128);
    ASSERT_TRUE(page.ok()) << page.status();
    if (page->empty()) break;
    read.insert(read.end(), page->begin(), page->end());
  }
  ASSERT_EQ(read.size(), stored.size());
  for (size_t i = 0; i < read.size(); ++i) {
    ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(read[i], stored[i])) << "row " << i;
  }
  absl::StatusOr<std::vector<v1::Event>> events = store.ReadEvents("s", 0, 100000);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), static_cast<size_t>(kPoints * (kLayers + 1)));
  for (size_t i = 0; i < events->size(); ++i) EXPECT_EQ((*events)[i].sequence(), int64_t(i) + 1);

  // As CompletePointFailingMidTransactionLeavesNothing, on the scratch store.
  ASSERT_TRUE(store.CreateSweep(Sweep("t", "alice", 1, 2)).ok());
  std::vector<v1::LayerStats> colliding = heavy(0);
  colliding[kLayers - 1].set_layer(1);
  EXPECT_FALSE(store.CompletePoint("t", 0, colliding).ok());
  EXPECT_EQ(store.GetSweep("t")->last_sequence, 0);
  EXPECT_TRUE(store.ReadEvents("t", 0, 100)->empty());
  EXPECT_TRUE(store.ReadLayers("t", 0, 100)->empty());
  EXPECT_EQ(store.GetSweep("s")->points_done, kPoints);
  EXPECT_EQ(store.ReadLayers("s", 0, 100000)->size(), stored.size());
}

TEST_F(JobStoreTest, CreateGetAndListByOwnerNewestFirst) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(store->read_only());
  ASSERT_TRUE(store->CreateSweep(Sweep("s1", "alice", 3, 1000)).ok());
  ASSERT_TRUE(store->CreateSweep(Sweep("s2", "bob", 1, 2000)).ok());
  ASSERT_TRUE(store->CreateSweep(Sweep("s3", "alice", 2, 3000)).ok());
  EXPECT_EQ(store->CreateSweep(Sweep("s1", "bob", 1, 4000)).code(),
            absl::StatusCode::kAlreadyExists);

  absl::StatusOr<SweepRecord> s1 = store->GetSweep("s1");
  ASSERT_TRUE(s1.ok()) << s1.status();
  EXPECT_EQ(s1->owner, "alice");
  EXPECT_EQ(s1->points_total, 3);
  EXPECT_EQ(s1->points_done, 0);
  EXPECT_EQ(s1->state, v1::SweepStatus::QUEUED);
  EXPECT_EQ(s1->created_unix_ms, 1000);
  EXPECT_EQ(s1->spec.base().samples(), 7);
  const v1::SweepStatus status = s1->ToProto();
  EXPECT_EQ(status.sweep_id(), "s1");
  EXPECT_EQ(status.name(), "name-s1");
  EXPECT_EQ(status.owner(), "alice");
  EXPECT_EQ(status.points_total(), 3);
  EXPECT_EQ(status.spec().name(), "name-s1");

  const absl::Status missing = store->GetSweep("nope").status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("nope"), std::string::npos);

  absl::StatusOr<std::vector<SweepRecord>> alice = store->ListSweeps("alice");
  ASSERT_TRUE(alice.ok()) << alice.status();
  ASSERT_EQ(alice->size(), 2u);
  EXPECT_EQ((*alice)[0].id, "s3");
  EXPECT_EQ((*alice)[1].id, "s1");
  absl::StatusOr<std::vector<SweepRecord>> all = store->ListSweeps("");
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].id, "s3");
  EXPECT_EQ((*all)[1].id, "s2");
  EXPECT_EQ((*all)[2].id, "s1");
  EXPECT_EQ(*store->CountActiveSweeps("alice"), 2);
  EXPECT_EQ(*store->CountActiveSweeps(""), 3);
}

TEST_F(JobStoreTest, ConcurrentAppendsGetDenseSequences) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateSweep(Sweep("s", "alice", 8, 1)).ok());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  std::vector<std::thread> threads;
  std::vector<std::vector<int64_t>> assigned(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::StatusOr<v1::Event> event = store->AppendEvent("s", Progress(t, i));
        ASSERT_TRUE(event.ok()) << event.status();
        EXPECT_EQ(event->sweep_id(), "s");
        assigned[t].push_back(event->sequence());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  std::vector<bool> seen(kThreads * kPerThread + 1, false);
  for (const auto& sequences : assigned) {
    for (size_t i = 0; i < sequences.size(); ++i) {
      ASSERT_GE(sequences[i], 1);
      ASSERT_LE(sequences[i], kThreads * kPerThread);
      EXPECT_FALSE(seen[sequences[i]]) << "sequence " << sequences[i] << " assigned twice";
      seen[sequences[i]] = true;
      if (i > 0) EXPECT_LT(sequences[i - 1], sequences[i]);
    }
  }
  absl::StatusOr<std::vector<v1::Event>> events = store->ReadEvents("s", 0, 100000);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), static_cast<size_t>(kThreads * kPerThread));
  for (size_t i = 0; i < events->size(); ++i) EXPECT_EQ((*events)[i].sequence(), i + 1);
  EXPECT_EQ(store->GetSweep("s")->last_sequence, kThreads * kPerThread);
}

TEST_F(JobStoreTest, ReadEventsFromEverySequenceReturnsExactlyTheTail) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateSweep(Sweep("s", "alice", 1, 1)).ok());
  constexpr int kEvents = 20;
  for (int i = 0; i < kEvents; ++i) ASSERT_TRUE(store->AppendEvent("s", Progress(0, i)).ok());

  for (int after = 0; after <= kEvents + 2; ++after) {
    absl::StatusOr<std::vector<v1::Event>> tail = store->ReadEvents("s", after, 1000);
    ASSERT_TRUE(tail.ok()) << tail.status();
    std::vector<int64_t> expected;
    for (int sequence = after + 1; sequence <= kEvents; ++sequence) expected.push_back(sequence);
    EXPECT_EQ(Sequences(*tail), expected) << "after " << after;
    for (const v1::Event& event : *tail) {
      EXPECT_EQ(event.progress().samples_done(), event.sequence() - 1);
    }
  }
  absl::StatusOr<std::vector<v1::Event>> page = store->ReadEvents("s", 5, 3);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Sequences(*page), (std::vector<int64_t>{6, 7, 8}));
  EXPECT_EQ(store->ReadEvents("nope", 0, 10).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(JobStoreTest, CompletePointStoresEventsLayersAndProgress) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateSweep(Sweep("s", "alice", 2, 1)).ok());
  ASSERT_TRUE(store->AppendEvent("s", Progress(1, 0)).ok());

  std::vector<v1::LayerStats> layers = Layers(1, 3);
  for (v1::LayerStats& layer : layers) {  // Several map entries: their order is in the bytes.
    v1::Summary& v11 = (*layer.mutable_stats())["v11"];
    v11.set_mean(2.0);
    (*v11.mutable_quantiles())["q95"] = 3.0;
    (*v11.mutable_quantiles())["q05"] = 1.0;
  }
  absl::StatusOr<int64_t> finished = store->CompletePoint("s", 1, layers);
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_EQ(*finished, 5);
  absl::StatusOr<std::vector<v1::Event>> events = store->ReadEvents("s", 1, 100);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(Sequences(*events), (std::vector<int64_t>{2, 3, 4, 5}));
  // Each row's event is the whole event, as if the row had been copied into it (the store writes
  // its bytes from the row's serialization): the same message, and in the file the same bytes as
  // the event's own deterministic serialization.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* select = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT payload FROM events WHERE sweep_id = 's' AND sequence = ?1",
                               -1, &select, nullptr),
            SQLITE_OK);
  for (int i = 0; i < 3; ++i) {
    v1::Event expected;
    expected.set_sweep_id("s");
    expected.set_sequence(2 + i);
    expected.set_point(1);
    *expected.mutable_layer() = layers[i];
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals((*events)[i], expected))
        << (*events)[i].DebugString() << "\nexpected\n" << expected.DebugString();
    std::string bytes;
    {
      google::protobuf::io::StringOutputStream stream(&bytes);
      google::protobuf::io::CodedOutputStream coded(&stream);
      coded.SetSerializationDeterministic(true);
      expected.SerializeToCodedStream(&coded);
    }
    sqlite3_reset(select);
    sqlite3_bind_int64(select, 1, 2 + i);
    ASSERT_EQ(sqlite3_step(select), SQLITE_ROW) << "event " << 2 + i;
    const std::string stored(static_cast<const char*>(sqlite3_column_blob(select, 0)),
                             static_cast<size_t>(sqlite3_column_bytes(select, 0)));
    EXPECT_EQ(stored, bytes) << "event " << 2 + i;
  }
  sqlite3_finalize(select);
  sqlite3_close(db);
  EXPECT_EQ((*events)[3].point(), 1);
  EXPECT_EQ((*events)[3].point_finished().layers(), 3);
  EXPECT_EQ(Sequences(*store->ReadEvents("s", 0, 100)), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(store->GetSweep("s")->points_done, 1);
  EXPECT_EQ(store->ReadLayers("s", 0, 100)->size(), 3u);

  const absl::Status again = store->CompletePoint("s", 1, Layers(1, 3)).status();
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition) << again;
  EXPECT_EQ(store->GetSweep("s")->last_sequence, 5);
  EXPECT_EQ(store->ReadLayers("s", 0, 100)->size(), 3u);
  EXPECT_EQ(store->CompletePoint("s", 9, Layers(9, 1)).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->CompletePoint("s", 0, Layers(1, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// The second layer's row collides with the first after events and a layer were already written in
// the transaction: the failure is genuinely mid-way, and none of it may remain.
TEST_F(JobStoreTest, CompletePointFailingMidTransactionLeavesNothing) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateSweep(Sweep("s", "alice", 1, 1)).ok());
  std::vector<v1::LayerStats> layers = Layers(0, 3);
  layers[2].set_layer(1);

  const absl::Status failed = store->CompletePoint("s", 0, layers).status();
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find("CompletePoint sweep 's' point 0"), std::string::npos) << failed;

  EXPECT_EQ(store->GetSweep("s")->last_sequence, 0);
  EXPECT_EQ(store->GetSweep("s")->points_done, 0);
  EXPECT_TRUE(store->ReadEvents("s", 0, 100)->empty());
  EXPECT_TRUE(store->ReadLayers("s", 0, 100)->empty());
  EXPECT_EQ(store->UnfinishedPoints()->size(), 1u);

  absl::StatusOr<int64_t> retried = store->CompletePoint("s", 0, Layers(0, 3));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(*retried, 4);
  EXPECT_EQ(Sequences(*store->ReadEvents("s", 0, 100)), (std::vector<int64_t>{1, 2, 3, 4}));
}

TEST_F(JobStoreTest, CompletePointWhileAnotherConnectionHoldsTheLockFailsCleanly) {
  JobStore::OpenOptions options;
  options.busy_timeout_ms = 20;
  auto store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateSweep(Sweep("s", "alice", 1, 1)).ok());

  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  const absl::Status busy = store->CompletePoint("s", 0, Layers(0, 2)).status();
  EXPECT_EQ(busy.code(), absl::StatusCode::kUnavailable) << busy;
  EXPECT_NE(busy.message().find("sweep 's'"), std::string::npos) << busy;
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);

  EXPECT_TRUE(store->ReadEvents("s", 0, 100)->empty());
  EXPECT_TRUE(store->ReadLayers("s", 0, 100)->empty());
  EXPECT_EQ(store->GetSweep("s")->points_done, 0);
  ASSERT_TRUE(store->CompletePoint("s", 0, Layers(0, 2)).ok());
}

TEST_F(JobStoreTest, ReopenKeepsEverythingAndListsOnlyUnfinishedPoints) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->CreateSweep(Sweep("running", "alice", 3, 1000)).ok());
    ASSERT_TRUE(store->CreateSweep(Sweep("finished", "bob", 2, 2000)).ok());
    ASSERT_TRUE(store->CreateSweep(Sweep("queued", "bob", 1, 3000)).ok());
    ASSERT_TRUE(store->SetSweepState("running", v1::SweepStatus::RUNNING, "").ok());
    ASSERT_TRUE(store->CompletePoint("running", 0, Layers(0, 2)).ok());
    ASSERT_TRUE(store->SetPointState("running", 1, PointState::kRunning).ok());
    ASSERT_TRUE(store->SetSweepState("finished", v1::SweepStatus::FAILED, "boom").ok());
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<SweepRecord> running = store->GetSweep("running");
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_EQ(running->state, v1::SweepStatus::RUNNING);
  EXPECT_EQ(running->points_done, 1);
  EXPECT_EQ(running->last_sequence, 3);
  EXPECT_EQ(Sequences(*store->ReadEvents("running", 0, 100)), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(PointLayers(*store->ReadLayers("running", 0, 100)),
            (std::vector<std::pair<int, int>>{{0, 0}, {0, 1}}));
  EXPECT_EQ(store->GetSweep("finished")->error, "boom");

  absl::StatusOr<std::vector<JobStore::PendingPoint>> pending = store->UnfinishedPoints();
  ASSERT_TRUE(pending.ok()) << pending.status();
  std::vector<std::string> names;
  for (const auto& point : *pending) {
    names.push_back(absl::StrCat(point.sweep_id, "/", point.owner, "/", point.point));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"running/alice/1", "running/alice/2", "queued/bob/0"}));
  EXPECT_EQ(*store->CountActiveSweeps("bob"), 1);
}

TEST_F(JobStoreTest, TerminalSweepStateAppendsSweepFinishedOnce) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateSweep(Sweep("s", "alice", 1, 1)).ok());
  ASSERT_TRUE(store->AppendEvent("s", Progress(0, 1)).ok());

  absl::StatusOr<std::optional<v1::Event>> running =
      store->SetSweepState("s", v1::SweepStatus::RUNNING, "");
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_FALSE(running->has_value());

  absl::StatusOr<std::optional<v1::Event>> cancelled =
      store->SetSweepState("s", v1::SweepStatus::CANCELLED, "cancelled by alice");
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  ASSERT_TRUE(cancelled->has_value());
  EXPECT_EQ((*cancelled)->sequence(), 2);
  EXPECT_EQ((*cancelled)->sweep_finished().state(), v1::SweepFinished::CANCELLED);
  EXPECT_EQ(store->ReadEvents("s", 1, 10)->at(0).sweep_finished().state(),
            v1::SweepFinished::CANCELLED);
  EXPECT_EQ(store->GetSweep("s")->state, v1::SweepStatus::CANCELLED);
  EXPECT_EQ(store->GetSweep("s")->error, "cancelled by alice");
  EXPECT_EQ(*store->CountActiveSweeps("alice"), 0);

  EXPECT_EQ(store->SetSweepState("s", v1::SweepStatus::SUCCEEDED, "").status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Nothing follows SweepFinished: a late progress event of a cancelled point is refused.
  EXPECT_EQ(store->AppendEvent("s", Progress(0, 2)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->GetSweep("s")->last_sequence, 2);
  EXPECT_EQ(store->SetSweepState("nope", v1::SweepStatus::FAILED, "").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(JobStoreTest, ReadLayersInPointLayerOrderWithPaging) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateSweep(Sweep("s", "alice", 3, 1)).ok());
  for (int point : {2, 0, 1}) ASSERT_TRUE(store->CompletePoint("s", point, Layers(point, 3)).ok());

  absl::StatusOr<std::vector<v1::LayerStats>> all = store->ReadLayers("s", 0, 100);
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<std::pair<int, int>> expected;
  for (int point = 0; point < 3; ++point) {
    for (int layer = 0; layer < 3; ++layer) expected.emplace_back(point, layer);
  }
  EXPECT_EQ(PointLayers(*all), expected);
  EXPECT_DOUBLE_EQ((*all)[4].stats().at("rho_mean").mean(), 1.01);

  std::vector<v1::LayerStats> paged;
  for (int64_t offset = 0;; offset += 4) {
    absl::StatusOr<std::vector<v1::LayerStats>> page = store->ReadLayers("s", offset, 4);
    ASSERT_TRUE(page.ok()) << page.status();
    if (page->empty()) break;
    paged.insert(paged.end(), page->begin(), page->end());
  }
  EXPECT_EQ(PointLayers(paged), expected);
  EXPECT_EQ(store->ReadLayers("nope", 0, 4).status().code(), absl::StatusCode::kNotFound);
}

// Every write of a read-only store: FailedPrecondition naming the operation, nothing else.
void ExpectWritesRefused(JobStore& store) {
  const auto refused = [](const absl::Status& status) {
    return status.code() == absl::StatusCode::kFailedPrecondition &&
           status.message().find("read-only") != absl::string_view::npos;
  };
  EXPECT_TRUE(refused(store.CreateSweep(Sweep("new", "alice", 1, 9))));
  EXPECT_TRUE(refused(store.AppendEvent("s", Progress(0, 1)).status()));
  EXPECT_TRUE(refused(store.CompletePoint("s", 0, Layers(0, 1)).status()));
  EXPECT_TRUE(refused(store.SetPointState("s", 0, PointState::kRunning)));
  EXPECT_TRUE(refused(store.SetSweepState("s", v1::SweepStatus::FAILED, "").status()));
}

void CreateOneFinishedPoint(const std::string& path) {
  auto store = JobStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->CreateSweep(Sweep("s", "alice", 2, 1)).ok());
  ASSERT_TRUE((*store)->CompletePoint("s", 1, Layers(1, 2)).ok());
}

TEST_F(JobStoreTest, ReadOnlyOpenServesReadsAndRefusesWrites) {
  CreateOneFinishedPoint(path_);
  JobStore::OpenOptions options;
  options.read_only = true;
  auto store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->read_only());
  EXPECT_EQ(store->GetSweep("s")->points_done, 1);
  EXPECT_EQ(store->ReadEvents("s", 0, 100)->size(), 3u);
  EXPECT_EQ(store->ReadLayers("s", 0, 100)->size(), 2u);
  EXPECT_EQ(store->UnfinishedPoints()->size(), 1u);
  ExpectWritesRefused(*store);
}

// Runs in a forked child (EXPECT_EXIT) that drops root: permission bits bind root's children only
// once they are no longer root. Reports each failed check on stderr and exits 1.
void OpenUnwritableAsNobody(const std::string& path, bool expect_refusal) {
  if (setgid(65534) != 0 || setuid(65534) != 0) {
    std::fprintf(stderr, "cannot drop to uid 65534\n");
    _exit(2);
  }
  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(path);
  if (expect_refusal) {
    const bool named = !store.ok() && store.status().code() == absl::StatusCode::kFailedPrecondition &&
                       store.status().message().find(path) != absl::string_view::npos;
    if (!named) std::fprintf(stderr, "expected refusal, got %s\n", store.status().ToString().c_str());
    _exit(named ? 0 : 1);
  }
  if (!store.ok()) {
    std::fprintf(stderr, "Open: %s\n", store.status().ToString().c_str());
    _exit(1);
  }
  bool ok = (*store)->read_only();
  ok = ok && (*store)->GetSweep("s").ok() && (*store)->ReadEvents("s", 0, 100)->size() == 3u &&
       (*store)->ReadLayers("s", 0, 100)->size() == 2u;
  const absl::Status write = (*store)->AppendEvent("s", Progress(0, 1)).status();
  ok = ok && write.code() == absl::StatusCode::kFailedPrecondition;
  if (!ok) std::fprintf(stderr, "read-only store misbehaved; write: %s\n", write.ToString().c_str());
  _exit(ok ? 0 : 1);
}

// A 0444 file in a directory the server may not write: SQLite cannot create the WAL index there,
// and the store must still serve reads (as immutable, since no log is left to replay).
TEST_F(JobStoreTest, UnwritableFileAndDirectoryOpenReadOnly) {
  CreateOneFinishedPoint(path_);
  ASSERT_FALSE(std::filesystem::exists(path_ + "-wal"));  // A clean close checkpoints the log.
  ASSERT_EQ(chmod(path_.c_str(), 0444), 0);
  ASSERT_EQ(chmod(dir_.c_str(), 0555), 0);
  EXPECT_EXIT(OpenUnwritableAsNobody(path_, /*expect_refusal=*/false), ::testing::ExitedWithCode(0),
              "");
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
}

// The same, but a writer died with committed changes still in the log: reading the main file alone
// would serve stale data, so the store refuses to open.
TEST_F(JobStoreTest, UnwritableFileWithUnreplayedLogIsRefused) {
  CreateOneFinishedPoint(path_);
  auto writer = OpenStore();
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->AppendEvent("s", Progress(0, 1)).ok());
  // Freeze a copy while the log still holds the last commit, as a kill -9 would leave it.
  const std::string frozen_dir = dir_ + "/frozen";
  ASSERT_TRUE(std::filesystem::create_directory(frozen_dir));
  const std::string frozen = frozen_dir + "/jobs.db";
  std::filesystem::copy_file(path_, frozen);
  std::filesystem::copy_file(path_ + "-wal", frozen + "-wal");
  ASSERT_GT(std::filesystem::file_size(frozen + "-wal"), 0u);
  ASSERT_EQ(chmod(frozen.c_str(), 0444), 0);
  ASSERT_EQ(chmod((frozen + "-wal").c_str(), 0444), 0);
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  ASSERT_EQ(chmod(frozen_dir.c_str(), 0555), 0);
  EXPECT_EXIT(OpenUnwritableAsNobody(frozen, /*expect_refusal=*/true), ::testing::ExitedWithCode(0),
              "");
  ASSERT_EQ(chmod(frozen_dir.c_str(), 0755), 0);
}

TEST_F(JobStoreTest, CorruptHeaderIsRefusedNamingThePath) {
  CreateOneFinishedPoint(path_);
  Overwrite(0, std::string(100, '\x5a'));
  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find(path_), std::string::npos) << store.status();
  EXPECT_NE(store.status().message().find("not a database"), std::string::npos) << store.status();
}

TEST_F(JobStoreTest, CorruptPageInTheMiddleIsRefusedNamingThePath) {
  CreateOneFinishedPoint(path_);
  ASSERT_GE(std::filesystem::file_size(path_), 3u * 4096u);
  Overwrite(4096, std::string(4096, '\xa5'));  // Page 2: the root of the first table.
  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find(path_), std::string::npos) << store.status();
  EXPECT_NE(store.status().message().find("corrupt"), std::string::npos) << store.status();
}

// A flipped byte inside a stored payload passes SQLite's structural checks; the row checksum must
// turn it into DataLoss instead of a wrong result.
TEST_F(JobStoreTest, CorruptPayloadIsDataLossNotWrongData) {
  const std::string marker = "payload-marker-0123456789";
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->CreateSweep(Sweep("s", "alice", 1, 1)).ok());
    v1::Event event;
    event.mutable_error()->set_message(marker);
    ASSERT_TRUE(store->AppendEvent("s", event).ok());
  }
  std::ifstream in(path_, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = bytes.find(marker);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(bytes.find(marker, at + 1), std::string::npos);
  Overwrite(static_cast<long>(at + 3), "X");

  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const absl::Status read = store->ReadEvents("s", 0, 10).status();
  EXPECT_EQ(read.code(), absl::StatusCode::kDataLoss) << read;
  EXPECT_NE(read.message().find("checksum"), std::string::npos) << read;
}

// A hole in the event log (rows lost, e.g. a restored partial copy) must stop a watcher at the
// hole with DATA_LOSS, never hand it a gap: sequences are dense by construction.
TEST_F(JobStoreTest, AHoleInTheEventLogIsDataLoss) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->CreateSweep(Sweep("s", "alice", 1, 1)).ok());
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(store->AppendEvent("s", Progress(0, i)).ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DELETE FROM events WHERE sequence = 3", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->ReadEvents("s", 0, 2)->size(), 2u);  // Before the hole: served.
  const absl::Status read = store->ReadEvents("s", 0, 10).status();
  EXPECT_EQ(read.code(), absl::StatusCode::kDataLoss) << read;
  EXPECT_NE(read.message().find("event 3 is missing"), std::string::npos) << read;
}

TEST_F(JobStoreTest, ForeignSqliteFileIsRefused) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t (x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("not a sigprop job store"), std::string::npos)
      << store.status();
}

SweepRecord ComparisonRecord(const std::string& id, int points) {
  SweepRecord sweep = Sweep(id, "alice", points, 5);
  sweep.comparison = true;
  sweep.spec.Clear();
  sweep.compare.set_name(absl::StrCat("comparison-", id));
  sweep.compare.mutable_base()->add_statistics("rho12");
  return sweep;
}

std::vector<v1::CompareRow> Rows(int point, int count) {
  std::vector<v1::CompareRow> rows;
  for (int r = 0; r < count; ++r) {
    v1::CompareRow row;
    row.set_point(point);
    row.set_time(0.1 * r);
    row.set_statistic("rho12");
    row.set_ks_statistic(0.01 * (point + r));
    rows.push_back(row);
  }
  return rows;
}

TEST_F(JobStoreTest, AComparisonIsStoredAndReadBackWithItsRows) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->CreateSweep(ComparisonRecord("c", 2)).ok());
    int64_t last = 0;
    for (int point : {1, 0}) {
      const std::vector<v1::CompareRow> rows = Rows(point, 3);
      absl::StatusOr<int64_t> finished = store->CompleteComparePoint("c", point, rows);
      ASSERT_TRUE(finished.ok()) << finished.status();
      EXPECT_EQ(*finished, last + 4);  // Three rows, then PointFinished counting them.
      auto events = store->ReadEvents("c", last, 100);
      ASSERT_TRUE(events.ok()) << events.status();
      ASSERT_EQ(events->size(), 4u);
      for (int i = 0; i < 3; ++i) {
        EXPECT_EQ((*events)[i].point(), point);
        EXPECT_TRUE(
            google::protobuf::util::MessageDifferencer::Equals((*events)[i].compare_row(), rows[i]))
            << (*events)[i].DebugString();
      }
      EXPECT_EQ((*events)[3].point_finished().layers(), 3);
      last = *finished;
    }
    EXPECT_EQ(store->CompleteComparePoint("c", 0, Rows(0, 3)).status().code(),
              absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(store->CompleteComparePoint("c", 1, Rows(0, 1)).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  auto store = OpenStore();  // Reopened: everything is on disk.
  ASSERT_NE(store, nullptr);
  auto sweep = store->GetSweep("c");
  ASSERT_TRUE(sweep.ok());
  EXPECT_TRUE(sweep->comparison);
  EXPECT_EQ(sweep->compare.name(), "comparison-c");
  EXPECT_EQ(sweep->ToProto().name(), "comparison-c");
  EXPECT_TRUE(sweep->ToProto().has_compare());
  EXPECT_EQ(sweep->points_done, 2);
  auto rows = store->ReadCompareRows("c", 2, 3);  // Paging: rows 2 … 4 of (point, row) order.
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].point(), 0);
  EXPECT_EQ((*rows)[1].point(), 1);
  EXPECT_DOUBLE_EQ((*rows)[2].ks_statistic(), 0.02);
  EXPECT_TRUE(store->ReadLayers("c", 0, 10)->empty());
}

// A file written by the build before comparisons were sweeps (schema 1: no sweeps.kind, no
// compare_rows) is read as it is when read-only, and upgraded in place when writable.
TEST_F(JobStoreTest, ASchemaOneFileIsReadAndUpgraded) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->CreateSweep(Sweep("old", "alice", 1, 1)).ok());
    ASSERT_TRUE(store->CompletePoint("old", 0, Layers(0, 2)).ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "ALTER TABLE sweeps DROP COLUMN kind; DROP TABLE compare_rows; "
                         "PRAGMA user_version = 1;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  {
    JobStore::OpenOptions read_only;
    read_only.read_only = true;
    auto store = OpenStore(read_only);
    ASSERT_NE(store, nullptr);
    auto sweep = store->GetSweep("old");
    ASSERT_TRUE(sweep.ok()) << sweep.status();
    EXPECT_FALSE(sweep->comparison);
    EXPECT_EQ(sweep->spec.name(), "name-old");
    EXPECT_EQ(store->ReadLayers("old", 0, 10)->size(), 2u);
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->GetSweep("old")->spec.name(), "name-old");
  ASSERT_TRUE(store->CreateSweep(ComparisonRecord("new", 1)).ok());
  ASSERT_TRUE(store->CompleteComparePoint("new", 0, Rows(0, 2)).ok());
  EXPECT_EQ(store->ReadCompareRows("new", 0, 10)->size(), 2u);
  EXPECT_EQ(store->ListSweeps("alice")->size(), 2u);
}

}  // namespace
}  // namespace sigprop::server
