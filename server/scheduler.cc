#include "server/scheduler.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sigprop::server {
namespace {

Scheduler::Options Normalized(Scheduler::Options options) {
  options.threads = std::max(1, options.threads);
  if (options.max_concurrent_points <= 0) options.max_concurrent_points = options.threads;
  return options;
}

}  // namespace

Scheduler::Scheduler(Options options, RunPoint run_point)
    : options_(Normalized(options)),
      run_point_(std::move(run_point)),
      arena_(options_.threads) {
  absl::MutexLock lock(&join_mu_);
  runners_.reserve(options_.max_concurrent_points);
  for (int i = 0; i < options_.max_concurrent_points; ++i) {
    runners_.emplace_back([this] { RunnerLoop(); });
  }
}

Scheduler::~Scheduler() { Shutdown(/*cancel_running=*/true); }

absl::Status Scheduler::Enqueue(std::vector<PointTask> tasks) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("Enqueue: the scheduler is shutting down");
  if (queued_ + tasks.size() > options_.max_queued_points) {
    return absl::ResourceExhaustedError(
        absl::StrCat("max_queued_points=", options_.max_queued_points, ": ", queued_,
                     " points are queued, ", tasks.size(), " more do not fit"));
  }
  for (PointTask& task : tasks) {
    auto [queue, inserted] = queues_.try_emplace(task.sweep_id);
    if (inserted) rotation_.push_back(task.sweep_id);
    queue->second.push_back(std::move(task));
  }
  queued_ += tasks.size();
  return absl::OkStatus();
}

int Scheduler::CancelSweep(const std::string& sweep_id) {
  absl::MutexLock lock(&mu_);
  int dropped = 0;
  if (auto queue = queues_.find(sweep_id); queue != queues_.end()) {
    dropped = static_cast<int>(queue->second.size());
    queued_ -= queue->second.size();
    queues_.erase(queue);
    rotation_.erase(std::find(rotation_.begin(), rotation_.end(), sweep_id));
  }
  for (Running& point : running_) {
    if (point.sweep_id == sweep_id) point.cancelled->store(true, std::memory_order_release);
  }
  return dropped;
}

void Scheduler::Shutdown(bool cancel_running) {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    queues_.clear();
    rotation_.clear();
    queued_ = 0;
    if (cancel_running) shutdown_cancel_.store(true, std::memory_order_release);
  }
  absl::MutexLock lock(&join_mu_);
  for (std::thread& runner : runners_) runner.join();
  runners_.clear();
}

size_t Scheduler::queued() const {
  absl::MutexLock lock(&mu_);
  return queued_;
}

int Scheduler::running() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(running_.size());
}

bool Scheduler::HasWorkOrStopping() const { return stopping_ || !rotation_.empty(); }

void Scheduler::RunnerLoop() {
  while (true) {
    PointTask task;
    std::list<Running>::iterator self;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &Scheduler::HasWorkOrStopping));
      if (stopping_) return;
      // Round-robin: the sweep at the front gives one point and goes to the back if it has more.
      std::string sweep_id = std::move(rotation_.front());
      rotation_.pop_front();
      auto queue = queues_.find(sweep_id);
      task = std::move(queue->second.front());
      queue->second.pop_front();
      --queued_;
      if (queue->second.empty()) {
        queues_.erase(queue);
      } else {
        rotation_.push_back(std::move(sweep_id));
      }
      self = running_.insert(running_.end(),
                             Running{task.sweep_id, std::make_shared<std::atomic<bool>>(false)});
    }
    const std::function<bool()> cancelled = [flag = self->cancelled, this] {
      return flag->load(std::memory_order_acquire) ||
             shutdown_cancel_.load(std::memory_order_acquire);
    };
    try {
      run_point_(task, arena_, cancelled);
    } catch (...) {
      // The service records its own failures; whatever escapes must not take a runner down.
    }
    absl::MutexLock lock(&mu_);
    running_.erase(self);
  }
}

}  // namespace sigprop::server
