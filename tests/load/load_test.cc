// Load against a real sigprop-server process on loopback, bounded and self-stopping:
//
//   sigprop_load --server build/release/server/sigprop-server [--sweeps 50] [--watchers 200]
//                [--stalled 50] [--threads 2] [--eventful-points 12] [--watch-stall-limit 1]
//                [--stagger-ms 100] [--max-peak-rss-mb 256]
// (SIGPROP_LONG_TESTS=1: 200 sweeps, 1000 watchers, 200 stalled, --max-peak-rss-mb 640.)
// The server's peak RSS must stay under the bound: the worst measured peaks (docs/RELIABILITY.md,
// "Load") are 94 MB by default and 249 MB long, on a loaded VM; the bounds are those with a
// margin of about 2.5×, so that an allocator's or a kernel's variation passes and a per-watcher
// buffer (megabytes × hundreds of watchers) does not.
//
// Phase 1: `sweeps` small sweeps submitted at once from as many threads, `watchers` watchers spread
// over them, each a raw Watch stream from sequence 0. Reports p50/p99 of Submit and of the first
// event after a Watch starts, events/s delivered, and checks every watcher saw 1..last exactly once
// (lost and duplicated counts, both must be 0).
// Phase 2 (slow consumers): once a sweep with thousands of events has ended, `stalled` watchers
// open a stream on it, one every `stagger-ms`, and stop reading (on connections whose stream
// window stays small); the server (--watch-stall-limit seconds, 0: never) drops those whose write
// stays pending; its resident memory is sampled before the first and after the last has stalled
// (and the limit has passed), then the watchers read on, reattach from their last sequence when
// they find they were dropped, and must again see every event exactly once.
// Prints the figures and the server's peak RSS (VmHWM); exits non-zero on any lost or duplicated
// event, any failed call, or an unclean server exit.
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "sigprop/v1/service.grpc.pb.h"

namespace {

namespace v1 = sigprop::v1;
using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  return v[i];
}

// kB from /proc/PID/status ("VmRSS", "VmHWM").
long ProcKb(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::atol(line.c_str() + key.size() + 1);
  }
  return -1;
}

struct Server {
  pid_t pid = -1;
  int port = 0;
};

Server StartServer(const std::string& binary, const std::string& db, int threads,
                   const std::string& stall_limit) {
  int out[2];
  if (pipe(out) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    const std::string t = std::to_string(threads);
    execl(binary.c_str(), binary.c_str(), "--listen", "127.0.0.1:0", "--db", db.c_str(),
          "--threads", t.c_str(), "--grace", "2", "--watch-stall-limit", stall_limit.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string text;
  char buffer[256];
  Server server;
  server.pid = pid;
  while (server.port == 0) {
    const ssize_t n = read(out[0], buffer, sizeof buffer);
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
    const size_t at = text.find("(port ");
    if (at != std::string::npos && text.find(')', at) != std::string::npos) {
      server.port = std::atoi(text.c_str() + at + 6);
    }
  }
  close(out[0]);
  return server;
}

v1::SweepSpec SmallSweep(int seed) {
  v1::SweepSpec sweep;
  sweep.set_name("load");
  auto* base = sweep.mutable_base();
  base->set_method(v1::RunSpec::DENSE);
  base->set_samples(20);
  base->set_seed(static_cast<uint64_t>(seed));
  auto* model = base->mutable_model();
  model->set_tokens(3);
  model->set_width(8);
  model->set_depth(4);
  model->mutable_initial()->set_rho0(0.2);
  auto* axis = sweep.add_axes();
  axis->set_field("model.attention.kind");
  axis->add_values()->set_string_value("SOFTMAX");
  axis->add_values()->set_string_value("SHAPED");
  return sweep;
}

// Many points, many progress events, every layer recorded with eigenvalues and the mean
// covariance: a few thousand events, MBs of them.
v1::SweepSpec EventfulSweep(int points) {
  v1::SweepSpec sweep = SmallSweep(99);
  sweep.set_name("eventful");
  sweep.mutable_base()->set_samples(400);
  sweep.mutable_base()->mutable_model()->set_tokens(8);
  sweep.mutable_base()->mutable_model()->set_width(16);
  sweep.mutable_base()->mutable_model()->set_depth(32);
  sweep.mutable_base()->set_eigenvalues(true);
  sweep.mutable_base()->set_mean_covariance(true);
  auto* axis = sweep.add_axes();
  axis->set_field("seed");
  for (int k = 0; k < points; ++k) axis->add_values()->set_number_value(k);
  return sweep;
}

// What one watcher saw.
struct Seen {
  int64_t events = 0;
  int64_t drops = 0;  // Streams the server ended as "watcher too slow" (each then reattached).
  int64_t bytes = 0;  // Serialized size of the events received.
  int64_t lost = 0;
  int64_t duplicated = 0;
  int64_t last = 0;
  bool finished = false;
  double first_event_ms = -1;
  std::string error;
};

// The server dropped this watcher for not reading (service.proto, Watch): reattach.
bool DroppedAsSlow(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
         status.error_message().rfind("watcher too slow:", 0) == 0;
}

// Reads a sweep's events to the end, reattaching from the last sequence received when the server
// drops the stream as too slow, and checks sequence numbers; `pause` (if set) stops reading after
// the first event until it turns false.
Seen WatchToEnd(v1::Simulation::Stub* stub, const std::string& sweep_id,
                const std::atomic<bool>* pause, std::atomic<int>* paused_count) {
  Seen seen;
  const auto start = Clock::now();
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(300);
  for (;;) {
    grpc::ClientContext context;
    context.set_deadline(deadline);
    v1::WatchRequest request;
    request.set_sweep_id(sweep_id);
    request.set_from_sequence(seen.last);
    auto reader = stub->Watch(&context, request);
    v1::Event event;
    while (reader->Read(&event)) {
      if (seen.events == 0) {
        seen.first_event_ms = Ms(Clock::now() - start);
        if (pause != nullptr) {
          paused_count->fetch_add(1);
          while (pause->load()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
      ++seen.events;
      seen.bytes += static_cast<int64_t>(event.ByteSizeLong());
      if (event.sequence() <= seen.last) {
        ++seen.duplicated;
      } else {
        seen.lost += event.sequence() - seen.last - 1;
        seen.last = event.sequence();
      }
      if (event.has_sweep_finished()) seen.finished = true;
    }
    const grpc::Status status = reader->Finish();
    if (DroppedAsSlow(status) && !seen.finished) {
      ++seen.drops;
      continue;
    }
    if (!status.ok()) seen.error = status.error_message();
    return seen;
  }
}

int64_t LastSequence(v1::Simulation::Stub* stub, const std::string& sweep_id) {
  grpc::ClientContext context;
  v1::GetRequest request;
  request.set_sweep_id(sweep_id);
  v1::SweepStatus status;
  if (!stub->Get(&context, request, &status).ok()) return -1;
  return status.last_sequence();
}

std::string Flag(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == "--" + name) return argv[i + 1];
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string binary = Flag(argc, argv, "server", "");
  const char* long_env = std::getenv("SIGPROP_LONG_TESTS");
  const bool long_run = long_env != nullptr && std::string(long_env) == "1";
  const int n_sweeps = std::stoi(Flag(argc, argv, "sweeps", long_run ? "200" : "50"));
  const int n_watchers = std::stoi(Flag(argc, argv, "watchers", long_run ? "1000" : "200"));
  const int n_stalled = std::stoi(Flag(argc, argv, "stalled", long_run ? "200" : "50"));
  const int threads = std::stoi(Flag(argc, argv, "threads", "2"));
  const int eventful_points = std::stoi(Flag(argc, argv, "eventful-points", "12"));
  const std::string stall_limit = Flag(argc, argv, "watch-stall-limit", "1");
  const int stagger_ms = std::stoi(Flag(argc, argv, "stagger-ms", "100"));
  const long max_peak_rss_kb =
      1024L * std::stol(Flag(argc, argv, "max-peak-rss-mb", long_run ? "640" : "256"));
  if (binary.empty()) {
    std::fprintf(stderr, "usage: sigprop_load --server PATH [--sweeps N] [--watchers N] ...\n");
    return 2;
  }
  char pattern[] = "/tmp/sigprop-load-XXXXXX";
  if (mkdtemp(pattern) == nullptr) return 2;
  const std::string dir = pattern;
  const Server server = StartServer(binary, dir + "/load.db", threads, stall_limit);
  if (server.port == 0) {
    std::fprintf(stderr, "sigprop_load: the server did not start\n");
    return 1;
  }
  const std::string target = "127.0.0.1:" + std::to_string(server.port);
  // Several connections, as many clients would have.
  std::vector<std::unique_ptr<v1::Simulation::Stub>> stubs;
  for (int c = 0; c < 8; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("sigprop.load.connection", c);  // Distinct arguments: distinct connections.
    stubs.push_back(v1::Simulation::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
  }
  // The stalled watchers' connections keep gRPC's initial stream window (no BDP probing), as on a
  // slow link: with probing the client's window grows to hold megabytes, the server's writes
  // never wait, and a stalled reader costs its own process, not the server.
  std::vector<std::unique_ptr<v1::Simulation::Stub>> slow_stubs;
  for (int c = 0; c < 8; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("sigprop.load.slow_connection", c);
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    slow_stubs.push_back(v1::Simulation::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
  }
  const long rss_idle_kb = ProcKb(server.pid, "VmRSS");
  int failures = 0;

  // Phase 1: concurrent sweeps and watchers.
  std::vector<std::string> ids(n_sweeps);
  std::vector<double> submit_ms(n_sweeps);
  std::vector<Seen> seen(n_watchers);
  std::mutex mutex;
  std::vector<std::string> errors;
  const auto phase1 = Clock::now();
  {
    std::vector<std::thread> workers;
    for (int s = 0; s < n_sweeps; ++s) {
      workers.emplace_back([&, s] {
        auto* stub = stubs[s % stubs.size()].get();
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
        v1::SubmitRequest request;
        *request.mutable_sweep() = SmallSweep(s + 1);
        v1::SubmitResponse response;
        const auto t0 = Clock::now();
        const grpc::Status status = stub->Submit(&context, request, &response);
        submit_ms[s] = Ms(Clock::now() - t0);
        if (!status.ok()) {
          std::lock_guard<std::mutex> lock(mutex);
          errors.push_back("Submit: " + status.error_message());
          return;
        }
        ids[s] = response.sweep_id();
        // This sweep's share of the watchers, started as soon as it is acknowledged.
        std::vector<std::thread> mine;
        for (int w = s; w < n_watchers; w += n_sweeps) {
          mine.emplace_back([&, w] {
            seen[w] = WatchToEnd(stubs[w % stubs.size()].get(), ids[s], nullptr, nullptr);
          });
        }
        for (auto& t : mine) t.join();
      });
    }
    for (auto& t : workers) t.join();
  }
  const double phase1_s = std::chrono::duration<double>(Clock::now() - phase1).count();
  int64_t delivered = 0, lost = 0, duplicated = 0, drops = 0;
  std::vector<double> first_ms;
  for (int w = 0; w < n_watchers; ++w) {
    const Seen& x = seen[w];
    delivered += x.events;
    drops += x.drops;
    lost += x.lost;
    duplicated += x.duplicated;
    if (x.first_event_ms >= 0) first_ms.push_back(x.first_event_ms);
    const std::string& id = ids[w % n_sweeps];
    const int64_t last = id.empty() ? -1 : LastSequence(stubs[0].get(), id);
    if (!x.finished || !x.error.empty() || x.last != last) {
      ++failures;
      std::fprintf(stderr, "watcher %d: finished=%d last=%lld of %lld error='%s'\n", w, x.finished,
                   static_cast<long long>(x.last), static_cast<long long>(last), x.error.c_str());
    }
    lost += std::max<int64_t>(0, last - x.last);  // Events after the last one it saw.
  }
  for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
  failures += static_cast<int>(errors.size());
  const long rss_phase1_kb = ProcKb(server.pid, "VmRSS");

  std::printf("phase 1: %d sweeps, %d watchers, server --threads %d, %.1f s\n", n_sweeps, n_watchers,
              threads, phase1_s);
  std::printf("  Submit latency        p50 %.1f ms  p99 %.1f ms\n", Percentile(submit_ms, 0.5),
              Percentile(submit_ms, 0.99));
  std::printf("  first event latency   p50 %.1f ms  p99 %.1f ms  (Watch start to first event)\n",
              Percentile(first_ms, 0.5), Percentile(first_ms, 0.99));
  std::printf("  events delivered      %lld (%.0f events/s)\n", static_cast<long long>(delivered),
              static_cast<double>(delivered) / phase1_s);
  std::printf("  lost %lld  duplicated %lld  (dropped as too slow and reattached: %lld)\n",
              static_cast<long long>(lost), static_cast<long long>(duplicated),
              static_cast<long long>(drops));

  // Phase 2: slow consumers.
  std::string eventful;
  {
    grpc::ClientContext context;
    v1::SubmitRequest request;
    *request.mutable_sweep() = EventfulSweep(eventful_points);
    v1::SubmitResponse response;
    const grpc::Status status = stubs[0]->Submit(&context, request, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "Submit (eventful): %s\n", status.error_message().c_str());
      ++failures;
    }
    eventful = response.sweep_id();
  }
  // Wait for the sweep to end: what the server holds afterwards for the stalled watchers is theirs
  // alone, not the sweep's.
  const auto give_up = Clock::now() + std::chrono::seconds(240);
  while (Clock::now() < give_up) {
    grpc::ClientContext context;
    v1::GetRequest request;
    request.set_sweep_id(eventful);
    v1::SweepStatus status;
    if (stubs[1]->Get(&context, request, &status).ok() &&
        status.state() == v1::SweepStatus::SUCCEEDED) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  // The stalled watchers arrive one every `stagger_ms`, as slow readers do over time: freed memory
  // of a dropped one is reused by the next, so what stays is what the server still holds.
  std::atomic<bool> pause{true};
  std::atomic<int> paused{0};
  std::vector<Seen> slow(n_stalled);
  std::vector<std::thread> slow_threads;
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const long rss_before_kb = ProcKb(server.pid, "VmRSS");
  for (int w = 0; w < n_stalled; ++w) {
    slow_threads.emplace_back([&, w] {
      slow[w] = WatchToEnd(slow_stubs[w % slow_stubs.size()].get(), eventful, &pause, &paused);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(stagger_ms));
  }
  while (paused.load() < n_stalled && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Past the stall limit (and the monitor's next look) after the last one stalled.
  std::this_thread::sleep_for(std::chrono::milliseconds(
      1000 + static_cast<int64_t>(2000 * std::stod(stall_limit))));
  const long rss_stalled_kb = ProcKb(server.pid, "VmRSS");
  const int64_t eventful_last = LastSequence(stubs[0].get(), eventful);
  pause.store(false);
  for (auto& t : slow_threads) t.join();
  int64_t slow_lost = 0, slow_dup = 0, slow_dropped = 0;
  for (int w = 0; w < n_stalled; ++w) {
    slow_lost += slow[w].lost + std::max<int64_t>(0, eventful_last - slow[w].last);
    slow_dup += slow[w].duplicated;
    slow_dropped += slow[w].drops > 0 ? 1 : 0;
    if (!slow[w].finished || !slow[w].error.empty()) {
      ++failures;
      std::fprintf(stderr, "stalled watcher %d: finished=%d error='%s'\n", w, slow[w].finished,
                   slow[w].error.c_str());
    }
  }
  std::printf("phase 2: %d watchers, one every %d ms, stop reading after their first event of a "
              "finished %lld-event sweep, server --watch-stall-limit %s\n",
              n_stalled, stagger_ms, static_cast<long long>(eventful_last), stall_limit.c_str());
  std::printf("  server RSS before %ld kB, with every watcher stalled %ld kB "
              "(%+ld kB, %.0f kB per stalled watcher; each had %.0f kB of events unread)\n",
              rss_before_kb, rss_stalled_kb, rss_stalled_kb - rss_before_kb,
              static_cast<double>(rss_stalled_kb - rss_before_kb) / std::max(1, n_stalled),
              n_stalled > 0 ? static_cast<double>(slow[0].bytes) / 1024.0 : 0.0);
  std::printf("  dropped as too slow: %lld of %d (each reattached from its last sequence)\n",
              static_cast<long long>(slow_dropped), n_stalled);
  // Each stalled for far longer than the limit with a write pending: every one must be dropped.
  if (std::stod(stall_limit) > 0 && slow_dropped != n_stalled) {
    std::fprintf(stderr, "only %lld of %d stalled watchers were dropped\n",
                 static_cast<long long>(slow_dropped), n_stalled);
    ++failures;
  }
  std::printf("  after reading on: lost %lld  duplicated %lld\n", static_cast<long long>(slow_lost),
              static_cast<long long>(slow_dup));

  const long hwm_kb = ProcKb(server.pid, "VmHWM");
  std::printf("server RSS: idle %ld kB, after phase 1 %ld kB, peak (VmHWM) %ld kB (bound %ld kB)\n",
              rss_idle_kb, rss_phase1_kb, hwm_kb, max_peak_rss_kb);
  if (hwm_kb <= 0 || hwm_kb > max_peak_rss_kb) {
    std::fprintf(stderr, "server peak RSS %ld kB is over the bound %ld kB (or unreadable)\n",
                 hwm_kb, max_peak_rss_kb);
    ++failures;
  }
  kill(server.pid, SIGTERM);
  int wait_status = 0;
  waitpid(server.pid, &wait_status, 0);
  const bool clean = WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
  if (!clean) {
    std::fprintf(stderr, "server did not exit cleanly on SIGTERM (status %d)\n", wait_status);
    ++failures;
  }
  std::system(("rm -rf '" + dir + "'").c_str());
  failures += static_cast<int>(lost + duplicated + slow_lost + slow_dup);
  std::printf("%s\n", failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}
