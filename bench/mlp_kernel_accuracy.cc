// How accurate is GRAM's KERNEL MLP sampling? Two-sample KS between GRAM with mlp_sampling EXACT
// and KERNEL on V₁₁, ρ₁₂, V₂₃ at the last layer, by activation, width and depth (m = 4, MLP-only
// residual network, γ² = ½, 2000 samples each). Prints a markdown table (bench/RESULTS.md).
//
//   mlp_kernel_accuracy > kernel.md
#include <cstdio>
#include <string>
#include <vector>

#include "common/engine.h"
#include "common/stats/distance.h"
#include "sigprop/v1/run.pb.h"

namespace sigprop {
namespace {

using v1::MlpSpec;

std::vector<std::vector<double>> LastLayer(v1::RunSpec run) {
  auto table = SimulateSamples(run, 0, RunContext{});
  std::vector<std::vector<double>> out;
  if (!table.ok()) {
    std::fprintf(stderr, "%s\n", std::string(table.status().message()).c_str());
    return out;
  }
  const int slot = static_cast<int>(table->layers.size()) - 1;
  for (const char* name : {"v11", "rho12", "v23"}) {
    out.push_back(table->Column(slot, table->StatIndex(name)));
  }
  return out;
}

void Row(MlpSpec::Activation activation, int width, int depth) {
  v1::RunSpec run;
  run.set_method(v1::RunSpec::GRAM);
  run.set_samples(2000);
  run.set_seed(99);
  run.set_record_every(depth);
  auto* model = run.mutable_model();
  model->set_preset(v1::ModelSpec::SHAPED_MLP_ONLY);
  model->set_tokens(4);
  model->set_width(width);
  model->set_depth(depth);
  model->mutable_initial()->set_rho0(0.3);
  model->mutable_mlp()->set_activation(activation);
  model->mutable_mlp()->set_c_minus(-1.0);
  const auto exact = LastLayer(run);
  run.set_seed(100);
  model->mutable_mlp()->set_mlp_sampling(MlpSpec::KERNEL);
  const auto kernel = LastLayer(run);
  if (exact.size() != 3 || kernel.size() != 3) return;
  std::printf("| %s | %d | %d | %.3g |", MlpSpec::Activation_Name(activation).c_str(), width, depth,
              static_cast<double>(depth) / width);
  for (int k = 0; k < 3; ++k) {
    const KsResult ks = KolmogorovSmirnov(exact[k], kernel[k]);
    std::printf(" %.3f (p=%.2g) |", ks.statistic, ks.p_value);
  }
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace
}  // namespace sigprop

int main() {
  using sigprop::v1::MlpSpec;
  std::printf("| activation | n | depth | T = d/n | KS D (p) V11 | KS D (p) rho12 | KS D (p) V23 |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (auto activation : {MlpSpec::SHAPED_RELU, MlpSpec::RELU, MlpSpec::TANH}) {
    for (int width : {16, 64, 256, 1024}) sigprop::Row(activation, width, 16);
    for (int width : {32, 128, 512}) sigprop::Row(activation, width, width / 4);
  }
  return 0;
}
