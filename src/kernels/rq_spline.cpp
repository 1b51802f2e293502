// The inverse monotonic rational-quadratic spline with linear tails (Durkan et al. 2019,
// "Neural Spline Flows", eqs. 4-6 and the inversion in appendix A) as VITS's stochastic
// duration predictor applies it in its ConvFlow layers: K bins on [-B, B] whose widths and
// heights are softmaxes of the network's outputs (each at least 1e-3 of the range), interior
// derivatives 1e-3 + softplus(.), boundary derivatives 1 so the identity tails join smoothly.
// One value per frame: computed in double (the bins' cumulative sums lose bits in float).
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/ops.h"

namespace nm::kernels {
namespace {

constexpr double kMinBinWidth = 1e-3, kMinBinHeight = 1e-3, kMinDerivative = 1e-3;

double softplus(double x) { return x > 30.0 ? x : std::log1p(std::exp(x)); }

// Knots of a softmax-partitioned interval: cum[0] = -B, cum[n] = B.
void knots(const float* u, int64_t n, double scale, double bound, double min_size, double* cum) {
  double mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, (double)u[i] * scale);
  double sum = 0.0;
  std::vector<double> e((size_t)n);
  for (int64_t i = 0; i < n; ++i) sum += e[(size_t)i] = std::exp((double)u[i] * scale - mx);
  double acc = 0.0;
  cum[0] = -bound;
  for (int64_t i = 0; i < n; ++i) {
    acc += min_size + (1.0 - min_size * (double)n) * e[(size_t)i] / sum;
    cum[i + 1] = 2.0 * bound * acc - bound;
  }
  cum[n] = bound;
}

double inverse(double y, const float* h, int64_t n_bins, double bound, double scale) {
  if (y < -bound || y > bound) return y;
  std::vector<double> cw((size_t)n_bins + 1), ch((size_t)n_bins + 1), dv((size_t)n_bins + 1);
  knots(h, n_bins, scale, bound, kMinBinWidth, cw.data());
  knots(h + n_bins, n_bins, scale, bound, kMinBinHeight, ch.data());
  dv[0] = dv[(size_t)n_bins] = 1.0;
  for (int64_t i = 1; i < n_bins; ++i) dv[(size_t)i] = kMinDerivative + softplus((double)h[2 * n_bins + i - 1]);
  // The bin whose height range holds y (the last knot nudged up, as the published code does).
  int64_t b = 0;
  for (int64_t i = 1; i < n_bins; ++i) b += y >= ch[(size_t)i] ? 1 : 0;
  const double xk = cw[(size_t)b], wk = cw[(size_t)b + 1] - xk;
  const double yk = ch[(size_t)b], hk = ch[(size_t)b + 1] - yk;
  const double s = hk / wk, d0 = dv[(size_t)b], d1 = dv[(size_t)b + 1];
  const double dy = y - yk;
  const double a = dy * (d0 + d1 - 2.0 * s) + hk * (s - d0);
  const double bb = hk * d0 - dy * (d0 + d1 - 2.0 * s);
  const double c = -s * dy;
  const double disc = std::max(bb * bb - 4.0 * a * c, 0.0);
  const double root = (2.0 * c) / (-bb - std::sqrt(disc));
  return root * wk + xk;
}

}  // namespace

void spline_coupling(const float* z, const float* h, float* y, int64_t t, int64_t n_bins, float tail_bound,
                     float scale, int ith, int nth) {
  const RowRange r = split_rows(t, ith, nth);
  const int64_t nh = 3 * n_bins - 1;
  for (int64_t i = r.begin; i < r.end; ++i) {
    y[2 * i] = z[2 * i];
    y[2 * i + 1] = (float)inverse((double)z[2 * i + 1], h + i * nh, n_bins, tail_bound, scale);
  }
}

}  // namespace nm::kernels
