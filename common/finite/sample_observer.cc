#include "common/finite/sample_observer.h"

namespace sigprop {

bool IsDiverged(const Matrix& v) {
  if (!v.allFinite()) return true;
  return v.diagonal().maxCoeff() > 1e12;
}

}  // namespace sigprop
