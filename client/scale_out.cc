#include "client/scale_out.h"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "client/channel.h"
#include "client/point_order.h"
#include "client/retry_backoff.h"
#include "proto/client_policy.h"

namespace sigprop::cli {
namespace {

// Threads that submit, then watch, points. Servers queue and run the points themselves; these
// threads only wait on streams, so a few are enough to keep results flowing and to notice a
// failed server soon.
constexpr int kWorkers = 8;
// A point that has moved this many times is given up on: the servers keep failing.
constexpr int kMaxMoves = 10;

// How long to wait for round_robin to connect to every address before the first Submit.
constexpr auto kConnectWait = std::chrono::seconds(2);

// The server went away or could not be reached: the point may run elsewhere (the clients' one
// reattach rule, proto/sigprop/v1/client_policy.json).
bool ServerLost(const absl::Status& status) {
  return GetClientPolicy().WorthReattaching(static_cast<int>(status.code()),
                                            std::string(status.message()));
}

// fn(k) for every k in [0, n), on up to `workers` threads; after the first failure no new k is
// started, and that failure is returned.
absl::Status ParallelFor(int n, int workers, const std::function<absl::Status(int)>& fn) {
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  absl::Mutex mutex;
  absl::Status first;
  auto body = [&] {
    for (int k = next.fetch_add(1); k < n && !failed.load(); k = next.fetch_add(1)) {
      absl::Status status = fn(k);
      if (!status.ok()) {
        absl::MutexLock lock(&mutex);
        if (first.ok()) first = std::move(status);
        failed.store(true);
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < std::min(n, workers); ++i) threads.emplace_back(body);
  for (auto& t : threads) t.join();
  return first;
}

class Spread {
 public:
  Spread(const Connection& connection, const v1::SweepSpec& sweep, std::chrono::seconds patience,
         const SpreadCallbacks& callbacks, const std::atomic<bool>& interrupted)
      : connection_(connection),
        sweep_(sweep),
        patience_(patience),
        callbacks_(callbacks),
        interrupted_(interrupted) {}

  absl::Status Run(const std::vector<int>& points) {
    AwaitServers();
    const int n = static_cast<int>(points.size());
    placements_.assign(n, Placement());
    finished_.assign(n, false);
    absl::Status status = ParallelFor(n, kWorkers, [&](int k) {
      auto placed = Place(points[k]);
      if (!placed.ok()) return placed.status();
      placements_[k] = *placed;
      return absl::OkStatus();
    });
    if (status.ok()) {
      std::set<std::string> servers;
      for (const auto& p : placements_) servers.insert(p.peer);
      Notice(absl::StrCat(n, " points submitted over ", servers.size(), " server",
                          servers.size() == 1 ? "" : "s", " (", absl::StrJoin(servers, ", "), ")"));
      PointOrder order(points, callbacks_.write);
      absl::Mutex order_mutex;
      status = ParallelFor(n, kWorkers, [&](int k) {
        auto layers = RunPoint(k, points[k]);
        if (!layers.ok()) return layers.status();
        absl::MutexLock lock(&order_mutex);
        for (const auto& layer : *layers) order.Add(layer);
        order.Finish(points[k]);
        if (callbacks_.point_written) callbacks_.point_written();
        finished_[k] = true;
        return absl::OkStatus();
      });
      if (status.ok() && !order.complete()) status = absl::InternalError("a point never finished");
    }
    if (!status.ok()) CancelUnfinished();
    return status;
  }

 private:
  struct Placement {
    std::string sweep_id;
    std::string peer;  // The accepting server's address, usable as a target.
  };

  // round_robin picks only among the servers it is connected to. Right after the channel is made
  // that may be the first one to answer alone, and it would get every early point; so first wait,
  // briefly, until health checks through the channel have reached every address of the target.
  void AwaitServers() {
    const size_t expected = static_cast<size_t>(AddressCount(connection_.target));
    const auto give_up = std::chrono::steady_clock::now() + kConnectWait;
    std::set<std::string> seen;
    while (seen.size() < expected && std::chrono::steady_clock::now() < give_up &&
           !interrupted_.load()) {
      std::string peer;
      if (connection_.client->Health(&peer).ok()) seen.insert(peer);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  void Notice(const std::string& text) {
    if (callbacks_.notice) callbacks_.notice(text);
  }

  // Submits `point` alone through the round_robin channel, retrying while no server answers.
  absl::StatusOr<Placement> Place(int point) {
    const auto give_up = std::chrono::steady_clock::now() + patience_;
    RetryBackoff backoff;
    for (;;) {
      if (interrupted_.load()) return absl::CancelledError("interrupted");
      Placement placement;
      auto submitted = connection_.client->Submit(sweep_, {point}, &placement.peer);
      if (submitted.ok()) {
        placement.sweep_id = submitted->sweep_id();
        absl::MutexLock lock(&mutex_);
        lost_.erase(placement.peer);
        return placement;
      }
      if (!ServerLost(submitted.status()) || std::chrono::steady_clock::now() > give_up) {
        return absl::Status(submitted.status().code(),
                            absl::StrCat("submitting point ", point, ": ",
                                         submitted.status().message()));
      }
      backoff.Sleep();
    }
  }

  absl::StatusOr<SimulationClient*> Peer(const std::string& peer) {
    absl::MutexLock lock(&mutex_);
    auto& client = peers_[peer];
    if (client == nullptr) {
      ChannelOptions options = connection_.channel;
      options.target = peer;
      options.authority = DnsAuthority(connection_.channel.target);
      auto channel = MakeChannel(options);
      if (!channel.ok()) return channel.status();
      client = std::make_unique<SimulationClient>(*channel, connection_.token);
    }
    return client.get();
  }

  // Watches placements_[k] until the point succeeds (its layers) or fails for a reason that moving
  // it would not cure. A server lost for longer than the patience loses its points to others.
  absl::StatusOr<std::vector<v1::LayerStats>> RunPoint(int k, int point) {
    for (int moves = 0;; ++moves) {
      Placement placement;
      bool lost;
      {
        absl::MutexLock lock(&mutex_);
        placement = placements_[k];
        lost = lost_.count(placement.peer) > 0;
      }
      if (!lost) {
        auto client = Peer(placement.peer);
        if (!client.ok()) return client.status();
        std::vector<v1::LayerStats> layers;
        absl::Status failure;
        auto finished = (*client)->Watch(placement.sweep_id, 0, [&](const v1::Event& event) {
          if (event.has_layer() && !event.layer().provisional()) {
            layers.push_back(event.layer());
          } else if (event.has_progress() && callbacks_.progress) {
            absl::MutexLock lock(&progress_mutex_);
            callbacks_.progress(point, event.progress().samples_done(),
                                event.progress().samples_total());
          } else if (event.has_error() && failure.ok()) {
            failure = absl::Status(static_cast<absl::StatusCode>(event.error().code()),
                                   event.error().message());
          }
        }, interrupted_, patience_);
        if (finished.ok()) {
          switch (finished->state()) {
            case v1::SweepFinished::SUCCEEDED:
              return layers;
            case v1::SweepFinished::CANCELLED:
              return absl::CancelledError(absl::StrCat("point ", point, " (sweep ",
                                                       placement.sweep_id, " on ", placement.peer,
                                                       ") was cancelled"));
            default:
              if (failure.ok()) {
                failure = absl::InternalError(absl::StrCat("point ", point, " failed on ",
                                                           placement.peer));
              }
              return failure;
          }
        }
        if (!ServerLost(finished.status())) return finished.status();
        if (moves == kMaxMoves) {
          return absl::UnavailableError(absl::StrCat("point ", point, ": gave up after ", moves,
                                                     " servers failed; last: ",
                                                     finished.status().message()));
        }
        bool newly_lost;
        {
          absl::MutexLock lock(&mutex_);
          newly_lost = lost_.insert(placement.peer).second;
        }
        if (newly_lost) {
          Notice(absl::StrCat(placement.peer, " unreachable for ", patience_.count(), " s (",
                              finished.status().message(), "); its points move to other servers"));
        }
      }
      auto placed = Place(point);
      if (!placed.ok()) return placed.status();
      absl::MutexLock lock(&mutex_);
      placements_[k] = *placed;
    }
  }

  // Best effort after an interruption or a failure: stop the work still queued on the servers.
  void CancelUnfinished() {
    for (size_t k = 0; k < placements_.size(); ++k) {
      if (finished_[k] || placements_[k].sweep_id.empty()) continue;
      auto client = Peer(placements_[k].peer);
      if (client.ok()) (void)(*client)->Cancel(placements_[k].sweep_id);
    }
  }

  const Connection& connection_;
  const v1::SweepSpec& sweep_;
  const std::chrono::seconds patience_;
  const SpreadCallbacks& callbacks_;
  const std::atomic<bool>& interrupted_;

  absl::Mutex mutex_;
  std::vector<Placement> placements_;  // By position in the point list; guarded after phase one.
  std::map<std::string, std::unique_ptr<SimulationClient>> peers_ ABSL_GUARDED_BY(mutex_);
  std::set<std::string> lost_ ABSL_GUARDED_BY(mutex_);  // Servers that outlasted the patience.
  std::vector<char> finished_;  // Written by one worker per element, read after the workers end.
  absl::Mutex progress_mutex_;
};

}  // namespace

int AddressCount(const std::string& target) {
  if (absl::StartsWith(target, "ipv4:") || absl::StartsWith(target, "ipv6:")) {
    return static_cast<int>(std::count(target.begin(), target.end(), ',')) + 1;
  }
  const std::string authority = DnsAuthority(target);
  const auto colon = authority.rfind(':');
  const std::string host = authority.substr(0, colon);
  const std::string port = colon == std::string::npos ? "443" : authority.substr(colon + 1);
  addrinfo hints = {};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return 1;
  std::set<std::string> distinct;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    distinct.emplace(reinterpret_cast<const char*>(a->ai_addr), a->ai_addrlen);
  }
  freeaddrinfo(found);
  return std::max<int>(1, static_cast<int>(distinct.size()));
}

bool IsMultiServerTarget(const std::string& target) {
  if (absl::StartsWith(target, "dns:")) return true;
  return (absl::StartsWith(target, "ipv4:") || absl::StartsWith(target, "ipv6:")) &&
         absl::StrContains(target, ',');
}

absl::Status RunSpread(const Connection& connection, const v1::SweepSpec& sweep,
                       const std::vector<int>& points, std::chrono::seconds patience,
                       const SpreadCallbacks& callbacks, const std::atomic<bool>& interrupted) {
  Spread spread(connection, sweep, patience, callbacks, interrupted);
  return spread.Run(points);
}

}  // namespace sigprop::cli
