// The CLI against a real sigprop-server process: `run --target` equals the embedded run byte for
// byte; Ctrl-C cancels the sweep on the server; a killed client's sweep is picked up with
// `watch --from N`.
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace {

using ::testing::HasSubstr;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Starts `command` (through sh) with stdout and stderr to files; returns its pid.
pid_t Spawn(const std::string& command, const std::string& out, const std::string& err) {
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + command + " >'" + out + "' 2>'" + err + "'").c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class CliServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sigprop-cli-server-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    server_ = Spawn(std::string(SIGPROP_SERVER) +
                        " --listen 127.0.0.1:0 --threads 2 --max-active-sweeps-per-user 50 --db " + dir_ +
                        "/s.db",
                    dir_ + "/server.out", dir_ + "/server.err");
    const std::regex port_line("\\(port ([0-9]+)\\)");
    for (int i = 0; i < 200 && port_.empty(); ++i) {
      std::smatch match;
      const std::string out = Read(dir_ + "/server.out");
      if (std::regex_search(out, match, port_line)) port_ = match[1];
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ASSERT_FALSE(port_.empty()) << Read(dir_ + "/server.err");
    target_ = "127.0.0.1:" + port_;
  }
  void TearDown() override {
    kill(server_, SIGTERM);
    EXPECT_EQ(Wait(server_), 0);  // clean shutdown on SIGTERM
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  std::string Spec(const std::string& name, int samples, int width) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << R"({"base": {"model": {"tokens": 4, "width": )" << width
                        << R"(, "depth": 16, "initial": {"rho0": 0.2}}, "samples": )" << samples
                        << R"(, "seed": "9"}, "axes": [{"field": "model.preset", "values": )"
                        << R"(["PAPER_A_STANDARD", "SHAPED_TRANSFORMER", "PAPER_A_SCALED"]}]})";
    return path;
  }
  int Cli(const std::string& args, std::string* out = nullptr, std::string* err = nullptr) {
    const int status = Wait(Spawn(std::string(SIGPROP_CLI) + " " + args, dir_ + "/cli.out", dir_ + "/cli.err"));
    if (out) *out = Read(dir_ + "/cli.out");
    if (err) *err = Read(dir_ + "/cli.err");
    return status;
  }

  // Starts `sigprop run --target` in the background and waits (bounded) until it has submitted
  // and printed its "reattach with" line into *err.
  pid_t StartRemoteRun(const std::string& spec, std::string* err) {
    const pid_t cli = Spawn(std::string(SIGPROP_CLI) + " run --quiet --target " + target_ + " " + spec,
                            dir_ + "/cli.out", dir_ + "/cli.err");
    for (int i = 0; i < 200 && err->find("reattach") == std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
      *err = Read(dir_ + "/cli.err");
    }
    return cli;
  }

  std::string dir_, port_, target_;
  pid_t server_ = 0;
};

TEST_F(CliServerTest, RemoteRunEqualsEmbeddedRunByteForByte) {
  const std::string spec = Spec("spec.json", 30, 16);
  std::string remote, embedded, results;
  ASSERT_EQ(Cli("run --quiet --target " + target_ + " " + spec, &remote), 0);
  ASSERT_EQ(Cli("run --quiet " + spec, &embedded), 0);
  EXPECT_EQ(remote, embedded);
  std::string list;
  ASSERT_EQ(Cli("list --target " + target_, &list), 0);
  const std::string id = list.substr(list.find("sw-"), 35);
  ASSERT_EQ(Cli("results " + id + " --target " + target_, &results), 0);
  EXPECT_EQ(results, embedded);
  std::string health;
  EXPECT_EQ(Cli("health --target " + target_, &health), 0);
  EXPECT_EQ(health, "SERVING\n");
}

TEST_F(CliServerTest, RemoteCompareEqualsEmbeddedCompare) {
  const std::string spec = dir_ + "/compare.json";
  std::ofstream(spec) << R"({"name": "sde vs dense",
    "base": {"a": {"model": {"preset": "SHAPED_TRANSFORMER", "tokens": 3, "width": 16, "depth": 8},
                   "method": "SDE", "samples": 200, "seed": "1"},
             "b": {"model": {"preset": "SHAPED_TRANSFORMER", "tokens": 3, "width": 4, "depth": 2},
                   "method": "DENSE", "samples": 50, "seed": "2"},
             "statistics": ["rho12", "v11"]},
    "axes": [{"field": "b.model.width", "values": [4, 8]}, {"field": "b.model.depth", "values": [2, 4]}],
    "combine": "ZIP"})";
  std::string remote, embedded;
  ASSERT_EQ(Cli("compare --target " + target_ + " " + spec, &remote), 0);
  ASSERT_EQ(Cli("compare " + spec, &embedded), 0);
  EXPECT_EQ(remote, embedded);
  EXPECT_EQ(std::count(remote.begin(), remote.end(), '\n'), 2 * 2);  // points × statistics
}

TEST_F(CliServerTest, CtrlCCancelsTheSweepOnTheServer) {
  const std::string spec = Spec("slow.json", 2000, 64);
  std::string err;
  const pid_t cli = StartRemoteRun(spec, &err);
  ASSERT_THAT(err, HasSubstr("reattach"));
  kill(cli, SIGINT);
  EXPECT_EQ(Wait(cli), 130);
  EXPECT_THAT(Read(dir_ + "/cli.err"), HasSubstr("cancelled"));
  std::string list;
  ASSERT_EQ(Cli("list --target " + target_, &list), 0);
  EXPECT_THAT(list, HasSubstr("CANCELLED"));
}

TEST_F(CliServerTest, AKilledClientsSweepIsPickedUpWithWatchFrom) {
  const std::string spec = Spec("spec.json", 300, 32);
  std::string err;
  const pid_t cli = StartRemoteRun(spec, &err);
  ASSERT_THAT(err, HasSubstr("reattach"));
  kill(cli, SIGKILL);  // no chance to cancel: the sweep goes on
  Wait(cli);
  const std::string id = err.substr(err.find("sw-"), 35);
  // Everything from the start, then from a middle sequence: the tail of the first.
  std::string all, tail, events;
  ASSERT_EQ(Cli("watch " + id + " --events --target " + target_, &events), 0);
  const int total = static_cast<int>(std::count(events.begin(), events.end(), '\n'));
  ASSERT_GT(total, 10);
  ASSERT_EQ(Cli("watch " + id + " --events --from 10 --target " + target_, &tail), 0);
  EXPECT_EQ(static_cast<int>(std::count(tail.begin(), tail.end(), '\n')), total - 10);
  EXPECT_EQ(events.substr(events.size() - tail.size()), tail);
  ASSERT_EQ(Cli("watch " + id + " --target " + target_, &all), 0);
  std::string embedded;
  ASSERT_EQ(Cli("run --quiet " + spec, &embedded), 0);
  EXPECT_EQ(all, embedded);
}

// `compare --target` stores the comparison as a sweep: it prints the id and the reattach command,
// and `watch`, `results` (with --out) and `list` serve it like any sweep.
TEST_F(CliServerTest, ARemoteComparisonIsASweepWithAReattachHint) {
  const std::string spec = dir_ + "/compare.json";
  std::ofstream(spec) << R"({"name": "dense vs columns",
    "base": {"a": {"model": {"tokens": 3, "width": 16, "depth": 4}, "method": "DENSE",
                   "samples": 60, "seed": "1"},
             "b": {"model": {"tokens": 3, "width": 16, "depth": 4}, "method": "COLUMNS",
                   "samples": 60, "seed": "1"}},
    "axes": [{"field": "model.width", "values": [16, 24]}]})";
  std::string printed, err, watched, results, embedded, list;
  ASSERT_EQ(Cli("compare --target " + target_ + " " + spec, &printed, &err), 0);
  ASSERT_THAT(err, HasSubstr("reattach with: sigprop watch sw-"));
  const std::string id = err.substr(err.find("sw-"), 35);
  ASSERT_EQ(Cli("compare " + spec, &embedded), 0);
  EXPECT_EQ(printed, embedded);
  ASSERT_EQ(Cli("watch " + id + " --target " + target_ + " --out " + dir_ + "/watched.jsonl"), 0);
  EXPECT_EQ(Read(dir_ + "/watched.jsonl"), embedded);
  ASSERT_EQ(Cli("results " + id + " --target " + target_, &results), 0);
  EXPECT_EQ(results, embedded);
  ASSERT_EQ(Cli("list --target " + target_, &list), 0);
  EXPECT_THAT(list, HasSubstr(id));
  EXPECT_THAT(list, HasSubstr("dense vs columns"));
}

TEST_F(CliServerTest, RunDetachSubmitsAndLeavesTheSweepRunning) {
  const std::string spec = Spec("spec.json", 30, 16);
  std::string out, err;
  ASSERT_EQ(Cli("run --detach --target " + target_ + " " + spec, &out, &err), 0);
  EXPECT_EQ(out, "");
  ASSERT_THAT(err, HasSubstr("reattach with: sigprop watch sw-"));
  const std::string id = err.substr(err.find("sw-"), 35);
  std::string watched, embedded;
  ASSERT_EQ(Cli("watch " + id + " --target " + target_, &watched), 0);
  ASSERT_EQ(Cli("run --quiet " + spec, &embedded), 0);
  EXPECT_EQ(watched, embedded);
}

// `validate --target` asks the server: its limits (here a tight --max-cost), not this build's
// defaults.
TEST_F(CliServerTest, ValidateWithATargetUsesTheServersLimits) {
  const std::string db = dir_ + "/tight.db";
  const pid_t tight = Spawn(std::string(SIGPROP_SERVER) + " --listen 127.0.0.1:0 --max-cost 1000 --db " + db,
                            dir_ + "/tight.out", dir_ + "/tight.err");
  const std::regex port_line("listening on 127\\.0\\.0\\.1:([0-9]+) \\(port ([0-9]+)\\)");
  std::smatch match;
  std::string line;
  for (int i = 0; i < 200; ++i) {
    line = Read(dir_ + "/tight.out");
    if (std::regex_search(line, match, port_line)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_EQ(match.size(), 3u) << line;
  EXPECT_EQ(match[1], match[2]);  // The printed address is the bound one, not ":0".
  const std::string spec = Spec("spec.json", 30, 16);
  std::string out, err;
  EXPECT_EQ(Cli("validate " + spec, &out), 0);
  EXPECT_THAT(out, HasSubstr("OK, 3 points"));
  EXPECT_EQ(Cli("validate --target 127.0.0.1:" + std::string(match[1]) + " " + spec, &out, &err), 2);
  EXPECT_THAT(err, HasSubstr("exceeds the budget 1000"));
  kill(tight, SIGTERM);
  EXPECT_EQ(Wait(tight), 0);
}

}  // namespace
