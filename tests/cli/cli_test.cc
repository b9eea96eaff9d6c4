// The sigprop binary as a user runs it: exit status 0 / 1 / 2, one-line errors naming the field,
// JSONL and CSV output, byte-identical output whatever --threads, no partial --out file.
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace {

using ::testing::HasSubstr;

struct Result {
  int status = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sigprop-cli-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // With `max_isa`, the binary runs under SIGPROP_MAX_ISA=max_isa.
  Result Run(const std::string& args, const std::string& max_isa = "") {
    const std::string out = dir_ + "/stdout", err = dir_ + "/stderr";
    const std::string environment = max_isa.empty() ? "" : "SIGPROP_MAX_ISA='" + max_isa + "' ";
    const std::string command = environment + std::string(SIGPROP_CLI) + " " + args + " >'" + out +
                                "' 2>'" + err + "' </dev/null";
    const int raw = std::system(command.c_str());
    Result r;
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    r.out = Read(out);
    r.err = Read(err);
    return r;
  }

  std::string dir_;
};

const char kSpec[] = R"({
  "name": "cli",
  "base": {"model": {"tokens": 3, "width": 8, "depth": 4, "initial": {"rho0": 0.1}},
           "samples": 20, "seed": "5", "gradients": true},
  "axes": [{"field": "model.attention.kind", "values": ["SOFTMAX", "SHAPED"]}]
})";

int Lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

TEST_F(CliTest, RunWritesOneJsonLinePerPointAndLayer) {
  const Result r = Run("run --quiet " + Write("spec.json", kSpec));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(Lines(r.out), 2 * 5);
  EXPECT_THAT(r.out, HasSubstr("\"layer\":0"));
  EXPECT_THAT(r.out, HasSubstr("\"stats\":{\"collapse\":{"));
  EXPECT_THAT(r.out, HasSubstr("\"rho_mean\":{\"mean\":"));
  EXPECT_THAT(r.out, HasSubstr("\"q50\":"));
  EXPECT_THAT(r.out, HasSubstr("\"method\":\"COLUMNS\""));  // gradients choose COLUMNS
  EXPECT_EQ(r.err, "");  // --quiet, and stderr is not a terminal anyway
}

TEST_F(CliTest, OutputIsByteIdenticalAtOneTwoAndFourThreads) {
  const std::string spec = Write("spec.json", kSpec);
  const Result one = Run("run --quiet --threads 1 " + spec);
  const Result two = Run("run --quiet --threads 2 " + spec);
  const Result four = Run("run --quiet --threads=4 " + spec);
  ASSERT_EQ(one.status, 0);
  EXPECT_EQ(one.out, two.out);
  EXPECT_EQ(one.out, four.out);
}

// Every kernel variant gives the same bits (cpu_features.h): capping the instruction set with
// SIGPROP_MAX_ISA changes the speed only. An SDE sweep (lane statistics, batched step, m = 3 and
// 8, a partly filled last batch) and a GRAM one (Philox blocks, row mixing); on a CPU without
// AVX-512 or AVX2 the caps above its best change nothing and the test still holds.
TEST_F(CliTest, OutputIsByteIdenticalUnderEveryInstructionSetCap) {
  const std::string spec = Write("isa.json", R"({
    "base": {"model": {"tokens": 8, "width": 64, "depth": 12, "preset": "SHAPED_TRANSFORMER",
                       "initial": {"rho0": 0.2}},
             "samples": 21, "seed": "3"},
    "axes": [{"field": "method", "values": ["SDE", "GRAM"]},
             {"field": "model.tokens", "values": [3, 8]}]
  })");
  const Result best = Run("run --quiet --threads 2 " + spec);
  ASSERT_EQ(best.status, 0) << best.err;
  ASSERT_EQ(Lines(best.out), 4 * 13);
  for (const char* isa : {"avx512", "avx2", "baseline"}) {
    const Result r = Run(std::string("run --quiet --threads 2 ") + spec, isa);
    ASSERT_EQ(r.status, 0) << isa << ": " << r.err;
    EXPECT_EQ(r.out, best.out) << "SIGPROP_MAX_ISA=" << isa;
  }
  const Result bad = Run("run --quiet " + spec, "avx1024");
  EXPECT_EQ(bad.status, 2);
  EXPECT_THAT(bad.err, HasSubstr("SIGPROP_MAX_ISA: 'avx1024' is not one of baseline, avx2, avx512"));
}

TEST_F(CliTest, CsvHasAHeaderAndARowPerPointAndLayer) {
  const Result r = Run("run --format csv " + Write("spec.json", kSpec));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(Lines(r.out), 1 + 2 * 5);
  EXPECT_THAT(r.out.substr(0, r.out.find('\n')),
              HasSubstr("point,label,layer,t,samples,diverged_fraction,method,approximate,"));
  EXPECT_THAT(r.out, HasSubstr("rho_mean.q50"));
  EXPECT_THAT(r.out, HasSubstr("model.attention.kind=SHAPED"));
}

TEST_F(CliTest, TextprotoSpecsWork) {
  const Result r = Run("run --quiet " + Write("spec.textproto",
      "base { model { tokens: 2 width: 4 depth: 1 } samples: 3 }\n"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(Lines(r.out), 2);
}

TEST_F(CliTest, OutFileAppearsOnlyOnSuccess) {
  const std::string out = dir_ + "/results.jsonl";
  ASSERT_EQ(Run("run --quiet --out " + out + " " + Write("spec.json", kSpec)).status, 0);
  EXPECT_EQ(Lines(Read(out)), 10);
  const std::string bad_out = dir_ + "/bad.jsonl";
  const Result r = Run("run --out " + bad_out + " " +
                       Write("bad.json", R"({"base": {"model": {"tokens": 1}}})"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(access(bad_out.c_str(), F_OK), 0);
  EXPECT_NE(access((bad_out + ".partial").c_str(), F_OK), 0);
}

TEST_F(CliTest, BadInputExitsTwoWithOneLineNamingTheField) {
  struct Case {
    std::string spec;
    std::string expected;
  };
  const Case cases[] = {
      {R"({"base": {"model": {"tokens": 1, "width": 4, "depth": 1}, "samples": 1}})",
       "base.model.tokens: must be ≥ 2, got 1"},
      {R"({"base": {"model": {"tokens": 4, "width": 2, "depth": 1}, "samples": 1}})",
       "base.model.width"},
      {R"({"base": {"model": {"tokens": 2, "width": 4, "depth": 1, "attention": {"tau0": -1}}, "samples": 1}})",
       "base.model.attention.tau0: must be > 0, got -1"},
      {R"({"base": {"model": {"tokens": 2, "width": 4, "depth": 1, "attention": {"tau0": "NaN"}}, "samples": 1}})",
       "base.model.attention.tau0: must be finite"},
      {R"({"base": {"model": {"tokens": 2, "width": 4, "depth": 1, "initial": {"v0": {"values": [1, 2, 2, 1]}}}, "samples": 1}})",
       "base.model.initial.v0.values: must be positive definite"},
      {R"({"base": {"model": {"tokens": 2, "width": 4096, "depth": 10000}, "method": "DENSE", "samples": 1000000}})",
       "base.samples: samples × depth × width²"},
      {R"({"base": {"modle": {}}})", "1:11: base.modle: unknown field"},
      {"{\n  \"base\": {\n    \"samples\": 3,,\n  }\n}", "bad.json:3:18: expected a quoted key"},
      {R"({"axes": [{"field": "model.widht", "values": [1]}]})", "axes[0].field: no field 'widht'"},
  };
  for (const Case& c : cases) {
    const Result r = Run("run " + Write("bad.json", c.spec));
    EXPECT_EQ(r.status, 2) << c.spec;
    EXPECT_THAT(r.err, HasSubstr(c.expected)) << c.spec;
    EXPECT_EQ(Lines(r.err), 1) << r.err;
    EXPECT_EQ(r.out, "") << c.spec;
  }
}

TEST_F(CliTest, ValidateExplainsAndExitsZeroOrTwo) {
  Result r = Run("validate " + Write("spec.json", kSpec));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("OK, 2 points"));
  r = Run("validate " + Write("bad.json", R"({"base": {"model": {"tokens": 1}}})"));
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("base.model.tokens"));
}

// Every spec in examples/ — sweeps for `run` and comparisons for `compare` — validates, so the
// examples the README and docs cite cannot rot as the schema moves.
TEST_F(CliTest, EveryExampleSpecValidates) {
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(SIGPROP_EXAMPLES)) {
    if (entry.path().extension() != ".json") continue;
    const Result r = Run("validate '" + entry.path().string() + "'");
    EXPECT_EQ(r.status, 0) << entry.path() << ": " << r.err;
    EXPECT_THAT(r.out, HasSubstr(": OK, ")) << entry.path();
    ++checked;
  }
  EXPECT_GE(checked, 9);
}

TEST_F(CliTest, ValidateTakesAComparisonAndNamesItsBadField) {
  const std::string good = R"({"base": {
      "a": {"model": {"preset": "SHAPED_MLP_ONLY", "tokens": 2, "width": 16, "depth": 8},
            "method": "SDE", "samples": 10},
      "b": {"model": {"preset": "SHAPED_MLP_ONLY", "tokens": 2, "width": 16, "depth": 8},
            "method": "GRAM", "samples": 10, "divergence_threshold": 10}}})";
  Result r = Run("validate " + Write("compare.json", good));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("OK, 1 comparison point"));
  std::string bad = good;
  bad.replace(bad.find("10}}}"), 2, "0.5");
  r = Run("validate " + Write("bad-compare.json", bad));
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("b.divergence_threshold")) << r.err;
  // A misspelt field of a comparison is named against the comparison's schema.
  std::string typo = good;
  typo.replace(typo.find("divergence_threshold"), 20, "divergence_threshol");
  r = Run("validate " + Write("typo-compare.json", typo));
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("divergence_threshol")) << r.err;
  EXPECT_THAT(r.err, HasSubstr("unknown field")) << r.err;
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Run("").status, 2);
  EXPECT_EQ(Run("frobnicate").status, 2);
  EXPECT_EQ(Run("run --no-such-flag x.json").status, 2);
  EXPECT_EQ(Run("run --threads many " + Write("spec.json", kSpec)).status, 2);
  EXPECT_EQ(Run("run --format xml " + Write("spec.json", kSpec)).status, 2);
  const Result missing = Run("run /nonexistent/spec.json");
  EXPECT_EQ(missing.status, 2);
  EXPECT_THAT(missing.err, HasSubstr("/nonexistent/spec.json"));
  EXPECT_EQ(Run("--help").status, 0);
}

// A misspelt enum value is named with its field and the valid names, in a file as in an axis.
TEST_F(CliTest, AnUnknownEnumValueListsTheValidNames) {
  Result r = Run("validate " + Write("enum.json", R"({"base": {"model": {"tokens": 3, "width": 8,
      "depth": 2, "attention": {"kind": "SIGMOIDX"}}, "samples": 2}})"));
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("base.model.attention.kind: 'SIGMOIDX' is not one of "));
  EXPECT_THAT(r.err, HasSubstr("|SOFTMAX|"));
  r = Run("validate " + Write("axis.json", R"({"base": {"model": {"tokens": 3, "width": 8,
      "depth": 2}, "samples": 2}, "axes": [{"field": "model.attention.kind", "values": ["NOPE"]}]})"));
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("axes[0].values[0]: 'NOPE' is not one of "));
}

// Provisional rows stream while a point runs; output keeps only final rows unless --provisional.
TEST_F(CliTest, ProvisionalRowsAreWrittenOnlyWhenAsked) {
  const std::string spec = Write("provisional.json", R"({"base": {"model": {"tokens": 3,
      "width": 8, "depth": 4}, "samples": 12, "seed": "5", "provisional_every": 5}})");
  const Result plain = Run("run --quiet " + spec);
  ASSERT_EQ(plain.status, 0) << plain.err;
  EXPECT_EQ(Lines(plain.out), 5);  // layers 0 … 4, final
  EXPECT_THAT(plain.out, ::testing::Not(HasSubstr("\"provisional\":true")));
  const Result with = Run("run --quiet --provisional " + spec);
  ASSERT_EQ(with.status, 0) << with.err;
  EXPECT_EQ(Lines(with.out), 3 * 5);  // after 5 and 10 samples, then the final rows
  EXPECT_EQ(with.out.substr(with.out.size() - plain.out.size()), plain.out);
  EXPECT_THAT(with.out.substr(0, with.out.find('\n')), HasSubstr("\"provisional\":true"));
  const Result csv = Run("run --quiet --provisional --format csv " + spec);
  EXPECT_EQ(csv.status, 2);
  EXPECT_THAT(csv.err, HasSubstr("--provisional: needs --format jsonl"));
}

// README's demo table is what `sigprop run examples/demo.json --format table` prints: every line
// of the README's block, except its "..." elisions, appears in the output in the same order.
TEST_F(CliTest, TheReadmeDemoTableIsWhatTheDemoPrints) {
  const std::string readme = Read(std::string(SIGPROP_EXAMPLES) + "/../README.md");
  const size_t begin = readme.find("```\npoint 0  model.preset=PAPER_A_STANDARD");
  ASSERT_NE(begin, std::string::npos) << "README's demo block moved";
  const size_t end = readme.find("```", begin + 3);
  std::stringstream block(readme.substr(begin + 4, end - begin - 4));
  const Result r = Run("run --quiet --format table " + std::string(SIGPROP_EXAMPLES) + "/demo.json");
  ASSERT_EQ(r.status, 0) << r.err;
  size_t at = 0;
  int lines = 0;
  for (std::string line; std::getline(block, line);) {
    if (line.empty() || line.find("...") != std::string::npos) continue;
    const size_t found = r.out.find(line + "\n", at);
    ASSERT_NE(found, std::string::npos) << "README line not printed (in order): " << line;
    at = found + line.size();
    ++lines;
  }
  EXPECT_EQ(lines, 11);  // The block's lines, less its elisions: all were checked.
}

// --columns chooses the table's statistics, gradients included; only with --format table.
TEST_F(CliTest, TableColumnsChooseTheStatistics) {
  const std::string spec = Write("spec.json", kSpec);  // gradients: true
  const Result r = Run("run --quiet --format table --columns grad_wq,grad_x " + spec);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("  layer              grad_wq               grad_x   diverged\n"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("rho_mean")));
  const Result csv = Run("run --quiet --format csv --columns grad_wq " + spec);
  EXPECT_EQ(csv.status, 2);
  EXPECT_THAT(csv.err, HasSubstr("--columns: chooses the columns of --format table"));
}

// Each command declares its flags: one it does not take is refused by name (exit 2), not ignored.
TEST_F(CliTest, EveryCommandRefusesAFlagItDoesNotTake) {
  const std::string spec = Write("spec.json", kSpec);
  // A flag no command but `run` takes, then one `run` does not take.
  for (const std::string& command : std::vector<std::string>{"compare " + spec, "validate " + spec, "watch sw-0", "list", "get sw-0", "cancel sw-0",
       "results sw-0", "health", "merge a.jsonl"}) {
    const Result r = Run(command + " --shard 0/2");
    EXPECT_EQ(r.status, 2) << command;
    EXPECT_THAT(r.err, HasSubstr("--shard: not a flag of")) << command << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("(it is one of run)")) << command;
  }
  const Result r = Run("run --from 3 " + spec);
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("--from: not a flag of 'run' (it is one of watch)"));
  EXPECT_EQ(Run("list --out x.txt").status, 2);  // list prints a table, never a results file
}

TEST_F(CliTest, CommandHelpListsThatCommandsFlags) {
  const Result run = Run("run --help");
  EXPECT_EQ(run.status, 0);
  EXPECT_THAT(run.out, HasSubstr("usage: sigprop run [flags] SPEC"));
  EXPECT_THAT(run.out, HasSubstr("--shard"));
  EXPECT_THAT(run.out, HasSubstr("--detach"));
  const Result list = Run("list --help");
  EXPECT_EQ(list.status, 0);
  EXPECT_THAT(list.out, HasSubstr("--target"));
  EXPECT_THAT(list.out, ::testing::Not(HasSubstr("--shard")));
}

TEST_F(CliTest, VersionNamesTheBuildAndTheContract) {
  const Result r = Run("--version");
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.out, ::testing::StartsWith("sigprop 0."));
  EXPECT_THAT(r.out, ::testing::EndsWith(" (contract sigprop.v1)\n"));
  const std::string server = std::string(SIGPROP_CLI).substr(0, std::string(SIGPROP_CLI).rfind("/client/")) +
                             "/server/sigprop-server --version";
  const int raw = std::system((server + " >'" + dir_ + "/v' 2>&1").c_str());
  EXPECT_EQ(WEXITSTATUS(raw), 0);
  EXPECT_THAT(Read(dir_ + "/v"), HasSubstr("sigprop-server "));
  EXPECT_THAT(Read(dir_ + "/v"), HasSubstr("(contract sigprop.v1)"));
}

TEST_F(CliTest, ValidatePlanShowsEachRunsMethodAndCost) {
  const Result r = Run("validate --plan " + Write("spec.json", kSpec));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("OK, 2 points"));
  // gradients: true without a method runs COLUMNS (ADR 0007).
  EXPECT_THAT(r.out, HasSubstr("point 0 (model.attention.kind=SOFTMAX): COLUMNS, cost"));
  EXPECT_THAT(r.out, HasSubstr("point 1 (model.attention.kind=SHAPED): COLUMNS"));
  EXPECT_THAT(r.out, HasSubstr("total cost"));
}

// Exit status 1 is a runtime failure, distinct from 2 (bad input): a server that cannot be reached
// (port 1 on loopback refuses at once) fails `list`, `health` and `watch` with 1, and says why.
TEST_F(CliTest, UnreachableServerIsARuntimeFailure) {
  for (const char* command : {"list", "health", "watch sw-0"}) {
    const Result r = Run(std::string(command) + " --target 127.0.0.1:1");
    EXPECT_EQ(r.status, 1) << command << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("127.0.0.1:1")) << command;
  }
}

// `sigprop compare`: SDE against DENSE over a width axis on b only.
const char kCompareSpec[] = R"({
  "name": "sde vs dense",
  "base": {
    "a": {"model": {"preset": "SHAPED_TRANSFORMER", "tokens": 3, "width": 16, "depth": 8},
          "method": "SDE", "samples": 200, "seed": "1"},
    "b": {"model": {"preset": "SHAPED_TRANSFORMER", "tokens": 3, "width": 4, "depth": 2},
          "method": "DENSE", "samples": 50, "seed": "2"},
    "statistics": ["rho12", "v11"]
  },
  "axes": [{"field": "b.model.width", "values": [4, 8]}, {"field": "b.model.depth", "values": [2, 4]}],
  "combine": "ZIP"
})";

TEST_F(CliTest, CompareWritesOneRowPerPointTimeAndStatistic) {
  const std::string spec = Write("compare.json", kCompareSpec);
  const Result jsonl = Run("compare " + spec);
  ASSERT_EQ(jsonl.status, 0) << jsonl.err;
  EXPECT_EQ(Lines(jsonl.out), 2 * 2);
  EXPECT_THAT(jsonl.out, HasSubstr("\"label\":\"b.model.width=8, b.model.depth=4\""));
  EXPECT_THAT(jsonl.out, HasSubstr("\"ks_statistic\":"));
  EXPECT_THAT(jsonl.out, HasSubstr("\"a_exploded_fraction\":"));
  EXPECT_THAT(jsonl.out, HasSubstr("\"a_method\":\"SDE\""));

  const Result csv = Run("compare --format csv --threads 1 " + spec);
  ASSERT_EQ(csv.status, 0) << csv.err;
  EXPECT_EQ(Lines(csv.out), 1 + 4);
  EXPECT_THAT(csv.out, HasSubstr("point,label,time,statistic,ks_statistic,p_value,wasserstein1,"));
  EXPECT_THAT(csv.out, HasSubstr(",ks_with_exploded\n"));

  const Result table = Run("compare --format table " + spec);
  ASSERT_EQ(table.status, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("sde vs dense"));
  EXPECT_THAT(table.out, HasSubstr("KS D"));
  EXPECT_THAT(table.out, HasSubstr("b.model.width=4, b.model.depth=2"));

  // Results do not depend on the thread count.
  EXPECT_EQ(Run("compare --format csv --threads 2 " + spec).out, csv.out);
}

// One stopping rule on both sides is the quiet case; sides that stop at different divergence
// thresholds get a one-line note on stderr naming the first such point and both levels.
TEST_F(CliTest, CompareNotesDifferentDivergenceThresholds) {
  const Result same = Run("compare " + Write("same.json", kCompareSpec));
  ASSERT_EQ(same.status, 0) << same.err;
  EXPECT_EQ(same.err, "");
  std::string text = kCompareSpec;
  const std::string b_seed = "\"seed\": \"2\"}";
  text.replace(text.find(b_seed), b_seed.size(), "\"seed\": \"2\", \"divergence_threshold\": 50}");
  const Result differing = Run("compare " + Write("differing.json", text));
  ASSERT_EQ(differing.status, 0) << differing.err;
  EXPECT_THAT(differing.err, HasSubstr("2 of 2 points stop a and b at different divergence"));
  EXPECT_THAT(differing.err, HasSubstr("a at max V_αα > 1e+12, b at > 50"));
  EXPECT_EQ(Lines(differing.err), 1);
}

TEST_F(CliTest, CompareBadSpecExitsTwoNamingTheField) {
  std::string text = kCompareSpec;
  const std::string a_model = "\"width\": 16, \"depth\": 8}";
  text.replace(text.find(a_model), a_model.size(),
               "\"width\": 16, \"depth\": 8, \"attention\": {\"kind\": \"SOFTMAX\"}}");
  const Result r = Run("compare " + Write("bad.json", text));
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("points[0].a.model.attention.kind: method SDE"));
  EXPECT_EQ(Lines(r.err), 1);
}

}  // namespace
