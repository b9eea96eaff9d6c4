#include "common/finite/mix_rows.h"

#include <iostream>
#include <string>

#include <gtest/gtest.h>

#include "common/cpu_features.h"
#include "common/rng.h"

namespace sigprop {
namespace {

// The exact MLP's h = l·z: the portable and the AVX2 implementations give the same bits, and both
// equal the plain product to rounding, at token counts 1..9 and column counts that exercise the
// 16-wide blocks and the scalar tail.
TEST(MixRowsTest, ImplementationsAgreeBitForBitAndWithTheProduct) {
  const std::string isas = std::string("portable") + (CpuHasAvx2() ? ", avx2" : "");
  std::cout << "[ isa      ] MixRows exercised: " << isas << std::endl;
  ::testing::Test::RecordProperty("isas", isas);
  RandomStream stream(77, 0, 0, 0);
  for (int m = 1; m <= 9; ++m) {
    for (int cols : {1, 15, 16, 17, 250, 256}) {
      Matrix l(m, m), z(m, 256);
      stream.FillGaussian(l.data(), l.size());
      stream.FillGaussian(z.data(), z.size());
      Matrix portable = Matrix::Zero(m, 256), avx2 = portable, dispatched = portable;
      MixRowsPortable(l, z, cols, &portable);
      if (CpuHasAvx2()) MixRowsAvx2(l, z, cols, &avx2);
      MixRows(l, z, cols, &dispatched);
      const Matrix want = l * z.leftCols(cols);
      for (int i = 0; i < m; ++i) {
        for (int c = 0; c < cols; ++c) {
          ASSERT_NEAR(portable(i, c), want(i, c), 1e-12) << m << " " << cols;
          if (CpuHasAvx2()) ASSERT_EQ(avx2(i, c), portable(i, c)) << m << " " << cols;
          ASSERT_EQ(dispatched(i, c), portable(i, c)) << m << " " << cols;
        }
      }
    }
  }
}

}  // namespace
}  // namespace sigprop
