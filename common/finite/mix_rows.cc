#include "common/finite/mix_rows.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "common/cpu_features.h"

namespace sigprop {

void MixRowsPortable(const Matrix& l, const Matrix& z, int cols, Matrix* h) {
  const int m = static_cast<int>(l.rows());
  for (int i = 0; i < m; ++i) {
    auto row = h->row(i).head(cols);
    row = l(i, 0) * z.row(0).head(cols);
    for (int k = 1; k < m; ++k) row += l(i, k) * z.row(k).head(cols);
  }
}

#if defined(__x86_64__)

// Sixteen columns at a time in four registers across the sum over k: the portable version reloads
// and stores its row once per k, this one once.
__attribute__((target("avx2"))) void MixRowsAvx2(const Matrix& l, const Matrix& z, int cols,
                                                 Matrix* h) {
  const int m = static_cast<int>(l.rows());
  const double* lp = l.data();
  const double* zp = z.data();
  const Eigen::Index l_stride = l.outerStride(), z_stride = z.outerStride();
  for (int i = 0; i < m; ++i) {
    double* out = h->data() + i * h->outerStride();
    const double* li = lp + i * l_stride;
    int c = 0;
    for (; c + 16 <= cols; c += 16) {
      const __m256d l0 = _mm256_set1_pd(li[0]);
      const double* z0 = zp + c;
      __m256d a0 = _mm256_mul_pd(l0, _mm256_loadu_pd(z0));
      __m256d a1 = _mm256_mul_pd(l0, _mm256_loadu_pd(z0 + 4));
      __m256d a2 = _mm256_mul_pd(l0, _mm256_loadu_pd(z0 + 8));
      __m256d a3 = _mm256_mul_pd(l0, _mm256_loadu_pd(z0 + 12));
      for (int k = 1; k < m; ++k) {
        const __m256d lk = _mm256_set1_pd(li[k]);
        const double* zk = zp + k * z_stride + c;
        a0 = _mm256_add_pd(a0, _mm256_mul_pd(lk, _mm256_loadu_pd(zk)));
        a1 = _mm256_add_pd(a1, _mm256_mul_pd(lk, _mm256_loadu_pd(zk + 4)));
        a2 = _mm256_add_pd(a2, _mm256_mul_pd(lk, _mm256_loadu_pd(zk + 8)));
        a3 = _mm256_add_pd(a3, _mm256_mul_pd(lk, _mm256_loadu_pd(zk + 12)));
      }
      _mm256_storeu_pd(out + c, a0);
      _mm256_storeu_pd(out + c + 4, a1);
      _mm256_storeu_pd(out + c + 8, a2);
      _mm256_storeu_pd(out + c + 12, a3);
    }
    for (; c < cols; ++c) {
      double sum = li[0] * zp[c];
      for (int k = 1; k < m; ++k) {
        const double product = li[k] * zp[k * z_stride + c];
        sum = sum + product;
      }
      out[c] = sum;
    }
  }
}

#else

void MixRowsAvx2(const Matrix& l, const Matrix& z, int cols, Matrix* h) {
  MixRowsPortable(l, z, cols, h);
}

#endif

void MixRows(const Matrix& l, const Matrix& z, int cols, Matrix* h) {
  if (CpuHasAvx2()) {
    MixRowsAvx2(l, z, cols, h);
  } else {
    MixRowsPortable(l, z, cols, h);
  }
}

}  // namespace sigprop
