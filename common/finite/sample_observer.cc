#include "common/finite/sample_observer.h"

namespace sigprop {

bool IsDiverged(const Matrix& v, double threshold) {
  if (!v.allFinite()) return true;
  return v.diagonal().maxCoeff() > threshold;
}

bool ReportLayer(SampleObserver& observer, int layer, const Matrix& v) {
  if (IsDiverged(v, observer.DivergenceThreshold())) {
    observer.OnDiverged(layer);
    return false;
  }
  if (observer.WantsLayer(layer)) observer.OnCovariance(layer, v);
  return true;
}

}  // namespace sigprop
