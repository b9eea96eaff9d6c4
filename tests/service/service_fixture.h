// A real SigpropServer on a loopback port with a real SQLite file in a fresh temporary directory,
// and clients of it: the fixture of the service tests.
#ifndef SIGPROP_TESTS_SERVICE_SERVICE_FIXTURE_H_
#define SIGPROP_TESTS_SERVICE_SERVICE_FIXTURE_H_

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include "client/simulation_client.h"
#include "server/sigprop_server.h"

namespace sigprop::test_support {

inline constexpr char kAliceToken[] = "alice-token-0123456789";
inline constexpr char kBobToken[] = "bob-token-0123456789ab";

class ServiceFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sigprop-service-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  server::ServerOptions Options() {
    server::ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.db_path = dir_ + "/sigprop.db";
    options.threads = 2;
    return options;
  }
  void StartServer(server::ServerOptions options) {
    auto started = server::SigpropServer::Start(options);
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = std::move(*started);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::Simulation::NewStub(channel_);
  }
  void StartServer() { StartServer(Options()); }
  cli::SimulationClient Client(const std::string& token = "") {
    return cli::SimulationClient(channel_, token);
  }
  // A --tokens file for alice and bob.
  std::string WriteTokens() {
    const std::string path = dir_ + "/tokens";
    std::ofstream(path) << "# token user\n" << kAliceToken << " alice\n" << kBobToken << " bob\n";
    return path;
  }
  // Every event of a sweep from `from`, until SweepFinished.
  std::vector<v1::Event> WatchAll(const std::string& id, int64_t from = 0,
                                  const std::string& token = "") {
    std::vector<v1::Event> events;
    std::atomic<bool> never{false};
    auto finished =
        Client(token).Watch(id, from, [&](const v1::Event& e) { events.push_back(e); }, never);
    EXPECT_TRUE(finished.ok()) << finished.status();
    return events;
  }

  std::string dir_;
  std::unique_ptr<server::SigpropServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Simulation::Stub> stub_;
};

}  // namespace sigprop::test_support

#endif  // SIGPROP_TESTS_SERVICE_SERVICE_FIXTURE_H_
