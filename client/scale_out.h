// Client-side scale-out (docs/adr/0003-client-side-scale-out.md): a sweep spread point by point
// over every server a target resolves to, through gRPC's round_robin policy, and put back together
// in point order.
//
// Each point is submitted as its own sweep (the same SweepSpec, SubmitRequest.points = [p]) on the
// round_robin channel, so gRPC picks the server; the address of the server that accepted it (the
// call's peer) is where the point is then watched, on a channel to that one address. When that
// server stays unreachable for longer than `patience`, the point is submitted again on the
// round_robin channel, which only picks servers it is connected to. A point's result is a pure
// function of the spec and its index, so where it ran does not change the bytes.
#ifndef SIGPROP_CLIENT_SCALE_OUT_H_
#define SIGPROP_CLIENT_SCALE_OUT_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/connection.h"
#include "sigprop/v1/results.pb.h"
#include "sigprop/v1/run.pb.h"

namespace sigprop::cli {

// Whether `target` names several servers: a "dns:" target (a headless Service, any number of
// addresses) or an "ipv4:"/"ipv6:" list with more than one address.
bool IsMultiServerTarget(const std::string& target);

// How many addresses such a target names now (resolving a "dns:" name); at least 1.
int AddressCount(const std::string& target);

struct SpreadCallbacks {
  std::function<void(const v1::LayerStats&)> write;  // In (point, layer) order, one thread at a time.
  // After a finished point's rows went to `write` (a burst of rows ends): on write's thread.
  std::function<void()> point_written;
  std::function<void(int point, int done, int total)> progress;  // Any thread, serialised.
  std::function<void(const std::string&)> notice;  // Where the points went, servers lost.
};

// Runs `points` of `sweep` spread over the servers of `connection` and delivers their layers in
// point order. CANCELLED when `interrupted` turns true (the submitted sweeps are cancelled too).
absl::Status RunSpread(const Connection& connection, const v1::SweepSpec& sweep,
                       const std::vector<int>& points, std::chrono::seconds patience,
                       const SpreadCallbacks& callbacks, const std::atomic<bool>& interrupted);

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_SCALE_OUT_H_
