// Scale-out as an operator runs it: three sigprop-server processes on loopback ports, the sigprop
// binary spreading a sweep over them with round_robin (--target ipv4:a,b,c), shards joined by
// `sigprop merge`, and a server killed mid-sweep. Every output is compared byte for byte with the
// embedded run of the same spec.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

struct Result {
  int status = -1;
  std::string out;
  std::string err;
};

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int Lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

// One sigprop-server child process on 127.0.0.1, port chosen by the kernel.
class ServerProcess {
 public:
  ServerProcess() = default;
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess() { Kill(SIGKILL); }

  // Starts the server and reads the port from its "listening on" line (at most 30 s).
  void Start(const std::string& db, const std::string& log) {
    int out[2];
    ASSERT_EQ(pipe(out), 0);
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      const int err = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(err, STDERR_FILENO);
      close(out[0]);
      execl(SIGPROP_SERVER, SIGPROP_SERVER, "--listen", "127.0.0.1:0", "--db", db.c_str(),
            "--threads", "1", "--grace", "1", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    std::string line;
    const auto give_up = Clock::now() + std::chrono::seconds(30);
    while (line.find('\n') == std::string::npos && Clock::now() < give_up) {
      pollfd p = {out[0], POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buffer[256];
      const ssize_t n = read(out[0], buffer, sizeof buffer);
      if (n <= 0) break;
      line.append(buffer, n);
    }
    close(out[0]);
    const auto at = line.find("(port ");
    ASSERT_NE(at, std::string::npos) << "no listening line from sigprop-server: '" << line << "'";
    port_ = std::stoi(line.substr(at + 6));
    ASSERT_GT(port_, 0);
  }

  void Kill(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

class ScaleOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sigprop-scale-out-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    for (auto& server : servers_) server.Kill(SIGKILL);
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  void StartServers(int count) {
    servers_ = std::vector<ServerProcess>(count);
    for (int i = 0; i < count; ++i) {
      servers_[i].Start(Path("server" + std::to_string(i) + ".db"),
                        Path("server" + std::to_string(i) + ".log"));
    }
  }
  // ipv4:127.0.0.1:p1,127.0.0.1:p2,…: one target naming every server.
  std::string Target() const {
    std::string target = "ipv4:";
    for (size_t i = 0; i < servers_.size(); ++i) {
      target += (i > 0 ? "," : "") + servers_[i].address();
    }
    return target;
  }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(Path(name)) << text;
    return Path(name);
  }
  std::string Command(const std::string& args, const std::string& tag) const {
    return std::string(SIGPROP_CLI) + " " + args + " >'" + Path(tag + ".out") + "' 2>'" +
           Path(tag + ".err") + "' </dev/null";
  }
  Result Collect(int raw, const std::string& tag) const {
    Result r;
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    r.out = Read(Path(tag + ".out"));
    r.err = Read(Path(tag + ".err"));
    return r;
  }
  Result Run(const std::string& args) {
    return Collect(std::system(Command(args, "cli").c_str()), "cli");
  }
  // The rows of `sigprop list` on one server (its header line left out).
  std::vector<std::string> SweepsOn(const ServerProcess& server) {
    const Result r = Run("list --target " + server.address());
    EXPECT_EQ(r.status, 0) << r.err;
    std::vector<std::string> rows;
    std::stringstream lines(r.out);
    std::string line;
    for (std::getline(lines, line); std::getline(lines, line);) rows.push_back(line);
    return rows;
  }

  std::string dir_;
  std::vector<ServerProcess> servers_;
};

// Twelve small DENSE points: quick, and enough for round_robin to give every server some.
const char kSweep[] = R"({
  "name": "scale-out",
  "base": {"model": {"tokens": 4, "width": 16, "depth": 6, "initial": {"rho0": 0.2}},
           "method": "DENSE", "samples": 30, "seed": "11"},
  "axes": [{"field": "model.attention.tau0",
            "values": [0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75, 3, 3.25]}]
})";
constexpr int kSweepPoints = 12;
constexpr int kSweepLayers = 7;

TEST_F(ScaleOutTest, RoundRobinSpreadsPointsOverEveryServerAndOutputIsByteIdentical) {
  StartServers(3);
  const std::string spec = Write("spec.json", kSweep);
  const Result embedded = Run("run --quiet " + spec);
  ASSERT_EQ(embedded.status, 0) << embedded.err;
  ASSERT_EQ(Lines(embedded.out), kSweepPoints * kSweepLayers);

  const Result spread = Run("run --target " + Target() + " " + spec);
  ASSERT_EQ(spread.status, 0) << spread.err;
  EXPECT_EQ(spread.out, embedded.out);
  EXPECT_THAT(spread.err, HasSubstr("12 points submitted over 3 servers"));

  // Each point was its own sweep, and each server ran some of them: its List says so.
  int total = 0;
  for (auto& server : servers_) {
    const auto rows = SweepsOn(server);
    EXPECT_GE(rows.size(), 1u) << server.address() << " ran no point";
    for (const auto& row : rows) {
      EXPECT_THAT(row, HasSubstr("SUCCEEDED"));
      EXPECT_THAT(row, HasSubstr("1/1"));
    }
    total += static_cast<int>(rows.size());
  }
  EXPECT_EQ(total, kSweepPoints);

  // CSV and the table go through the same reassembly (the table flushed once a point, not a row).
  for (const char* format : {"csv", "table"}) {
    const Result local = Run(std::string("run --quiet --format ") + format + " " + spec);
    const Result remote =
        Run(std::string("run --quiet --format ") + format + " --target " + Target() + " " + spec);
    ASSERT_EQ(remote.status, 0) << format << ": " << remote.err;
    EXPECT_EQ(remote.out, local.out) << format;
  }
}

TEST_F(ScaleOutTest, ShardsMergedEqualTheUnshardedRun) {
  const std::string spec = Write("spec.json", kSweep);
  ASSERT_EQ(Run("run --quiet --out " + Path("whole.jsonl") + " " + spec).status, 0);
  std::vector<std::string> shards;
  for (int i = 0; i < 5; ++i) {  // 12 points over 5 shards: uneven, none empty.
    shards.push_back(Path("shard-" + std::to_string(i) + ".jsonl"));
    const Result r = Run("run --quiet --shard " + std::to_string(i) + "/5 --out " + shards[i] +
                         " " + spec);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(Read(shards[i]), "");
  }
  const std::string whole = Read(Path("whole.jsonl"));
  // Any file order gives the same bytes.
  Result merged = Run("merge " + shards[3] + " " + shards[0] + " " + shards[4] + " " + shards[2] +
                      " " + shards[1] + " --out " + Path("merged.jsonl"));
  ASSERT_EQ(merged.status, 0) << merged.err;
  EXPECT_EQ(Read(Path("merged.jsonl")), whole);
  merged = Run("merge " + shards[0] + " " + shards[1] + " " + shards[2] + " " + shards[3] + " " +
               shards[4]);
  ASSERT_EQ(merged.status, 0) << merged.err;
  EXPECT_EQ(merged.out, whole);

  // A shard given twice, a shard missing, CSV: refused with a one-line reason, no output.
  Result r = Run("merge " + shards[0] + " " + shards[1] + " " + shards[0] + " " + shards[2] + " " +
                 shards[3] + " " + shards[4]);
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("the shards overlap"));
  EXPECT_EQ(r.out, "");
  r = Run("merge " + shards[0] + " " + shards[2] + " " + shards[3] + " " + shards[4]);
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("point 1 is in no file"));
  // --shards names the shard a gap belongs to (12 points over 5 shards: shard 1 holds 1, 6, 11).
  r = Run("merge " + shards[0] + " " + shards[2] + " " + shards[3] + " " + shards[4] + " --spec " +
          spec + " --shards 5");
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("point 1 is in no file (next is point 2 at "));
  EXPECT_THAT(r.err, HasSubstr("the shard that holds it (--shard 1/5) is missing"));
  // With no more points than shards, a missing last shard leaves no gap (3 points over 4 shards:
  // shard 2 holds point 2 alone, shard 3 nothing): only --spec notices it.
  const std::string three = Write("three.json", R"({
    "base": {"model": {"tokens": 4, "width": 16, "depth": 2}, "method": "DENSE", "samples": 4},
    "axes": [{"field": "model.attention.tau0", "values": [0.5, 1, 2]}]})");
  std::vector<std::string> small;
  for (int i = 0; i < 4; ++i) {
    small.push_back(Path("three-" + std::to_string(i) + ".jsonl"));
    ASSERT_EQ(Run("run --quiet --shard " + std::to_string(i) + "/4 --out " + small[i] + " " + three)
                  .status,
              0);
  }
  r = Run("merge " + small[0] + " " + small[1] + " " + small[3]);
  EXPECT_EQ(r.status, 0) << "without --spec a missing last shard is not noticed";
  EXPECT_THAT(r.err, HasSubstr("without --spec SPEC a missing last shard cannot be noticed"));
  r = Run("merge " + small[0] + " " + small[1] + " " + small[3] + " --spec " + three +
          " --shards 4 --out " + Path("never.jsonl"));
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("point 2 is in no file (the sweep has 3): the shard that holds it "
                               "(--shard 2/4) is missing"));
  EXPECT_NE(access(Path("never.jsonl").c_str(), F_OK), 0);
  r = Run("merge " + small[0] + " " + small[1] + " " + small[2] + " " + small[3] + " --spec " +
          three + " --shards 4");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, Run("run --quiet " + three).out);
  ASSERT_EQ(Run("run --quiet --format csv --shard 0/2 --out " + Path("s0.csv") + " " + spec).status, 0);
  r = Run("merge " + Path("s0.csv") + " --out " + Path("never.jsonl"));
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("merge joins JSONL"));
  EXPECT_NE(access(Path("never.jsonl").c_str(), F_OK), 0);
  EXPECT_EQ(Lines(r.err), 1) << r.err;
}

TEST_F(ScaleOutTest, ShardsSpreadOverServersMergeToTheUnshardedRun) {
  StartServers(3);
  const std::string spec = Write("spec.json", kSweep);
  const Result embedded = Run("run --quiet " + spec);
  ASSERT_EQ(embedded.status, 0) << embedded.err;
  std::string files;
  for (int i = 0; i < 2; ++i) {
    const std::string out = Path("shard-" + std::to_string(i) + ".jsonl");
    const Result r = Run("run --quiet --shard " + std::to_string(i) + "/2 --target " + Target() +
                         " --out " + out + " " + spec);
    ASSERT_EQ(r.status, 0) << r.err;
    files += " " + out;
  }
  const Result merged = Run("merge" + files);
  ASSERT_EQ(merged.status, 0) << merged.err;
  EXPECT_EQ(merged.out, embedded.out);
}

// Heavier points, so that the sweep is still running when a server is killed.
const char kSlowSweep[] = R"({
  "name": "failover",
  "base": {"model": {"tokens": 4, "width": 32, "depth": 12, "initial": {"rho0": 0.2}},
           "method": "DENSE", "samples": 150, "seed": "3"},
  "axes": [{"field": "model.attention.tau0", "values": [0.5, 1, 1.5, 2, 2.5, 3]}]
})";

TEST_F(ScaleOutTest, KillingOneServerMidSweepMovesItsPointsAndTheSweepCompletes) {
  StartServers(3);
  const std::string spec = Write("slow.json", kSlowSweep);
  const Result embedded = Run("run --quiet " + spec);
  ASSERT_EQ(embedded.status, 0) << embedded.err;

  // The client runs in the background; server 1 is killed once it is running one of the points.
  const std::string command =
      Command("run --patience 2 --target " + Target() + " " + spec, "spread");
  const pid_t client = fork();
  ASSERT_GE(client, 0);
  if (client == 0) {
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ServerProcess& victim = servers_[1];
  const std::string victim_address = victim.address();
  bool running = false;
  for (const auto give_up = Clock::now() + std::chrono::seconds(30);
       !running && Clock::now() < give_up;) {
    for (const auto& row : SweepsOn(victim)) running = running || row.find("RUNNING") != std::string::npos;
    if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(running) << "server " << victim_address << " never ran a point";
  victim.Kill(SIGKILL);

  int raw = -1;
  for (const auto give_up = Clock::now() + std::chrono::seconds(90);
       Clock::now() < give_up && waitpid(client, &raw, WNOHANG) == 0;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!WIFEXITED(raw)) {
    ::kill(client, SIGKILL);
    waitpid(client, nullptr, 0);
    FAIL() << "sigprop run did not finish within 90 s of the kill";
  }
  const Result spread = Collect(raw, "spread");
  ASSERT_EQ(spread.status, 0) << spread.err;
  EXPECT_EQ(spread.out, embedded.out);
  EXPECT_THAT(spread.err, HasSubstr("ipv4:" + victim_address + " unreachable"));
  EXPECT_THAT(spread.err, HasSubstr("its points move to other servers"));
  // The survivors ran the killed server's points again, on top of their own.
  EXPECT_GT(SweepsOn(servers_[0]).size() + SweepsOn(servers_[2]).size(), 4u);
}

}  // namespace
