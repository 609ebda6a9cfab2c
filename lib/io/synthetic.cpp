// GCC 12 flags Eigen's AVX-512 matrix-product packing with a false maybe-uninitialized warning.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "io/synthetic.hpp"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <cmath>
#include <numbers>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "common/text.hpp"

namespace loft::io {
namespace {

// Bounds on what a spec may ask for: a tensor of at most 2^30 floats (4 GB), 10^5 tensors.
constexpr int64_t kMaxElements = int64_t(1) << 30;
constexpr int64_t kMaxCount = 100'000;

const std::map<std::string, std::string> kCommonDefaults = {
    {"shape", "256x256"}, {"count", "4"}, {"seed", "0"}, {"std", "0.02"}};

const std::array<SyntheticKind, 3> kKinds{{
    {"gaussian", "i.i.d. normal entries of standard deviation std", {}},
    {"student-t",
     "heavy-tailed Student-t entries (df degrees of freedom), standard deviation std",
     {{"df", "3"}}},
    {"lowrank",
     "rank-r power-law spectrum (k^-decay) at RMS std plus Gaussian noise*std",
     {{"rank", "16"}, {"decay", "1.0"}, {"noise", "0.1"}}},
}};

// Plain, portable draws (std::normal_distribution differs between standard libraries).
class Draw {
 public:
  explicit Draw(Rng rng) : rng_(rng) {}
  double uniform() { return (static_cast<double>(rng_() >> 11) + 0.5) * 0x1p-53; }  // (0, 1)
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double r = std::sqrt(-2.0 * std::log(uniform())), a = 2 * std::numbers::pi * uniform();
    spare_ = r * std::sin(a);
    has_spare_ = true;
    return r * std::cos(a);
  }
  // Marsaglia-Tsang; shape < 1 via the boost gamma(k+1) * u^(1/k).
  double gamma(double k) {
    if (k < 1) return gamma(k + 1) * std::pow(uniform(), 1.0 / k);
    const double d = k - 1.0 / 3, c = 1 / std::sqrt(9 * d);
    for (;;) {
      const double x = normal(), v0 = 1 + c * x;
      if (v0 <= 0) continue;
      const double v = v0 * v0 * v0, u = uniform();
      if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
    }
  }
  double student_t(double df) { return normal() / std::sqrt(2 * gamma(df / 2) / df); }

 private:
  Rng rng_;
  double spare_ = 0;
  bool has_spare_ = false;
};

struct Options {
  std::string kind;
  int64_t rows = 0, cols = 0, count = 0;
  uint64_t seed = 0;
  double std = 0, df = 0, decay = 0, noise = 0;
  int64_t rank = 0;
  std::map<std::string, std::string> values;  // every option, defaults filled in
};

double to_number(const std::string& key, const std::string& v, std::string_view spec) {
  double x = 0;
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || p != v.data() + v.size() || !std::isfinite(x))
    fail("synthetic:{}: option {}={} is not a number", spec, key, v);
  return x;
}

int64_t to_count(const std::string& key, const std::string& v, std::string_view spec) {
  const double x = to_number(key, v, spec);
  if (x < 1 || x != std::floor(x) || x > 1e9)
    fail("synthetic:{}: option {}={} must be a positive integer", spec, key, v);
  return static_cast<int64_t>(x);
}

Options parse(std::string_view spec) {
  Options o;
  const auto colon = spec.find(':');
  o.kind = std::string(spec.substr(0, colon));
  const SyntheticKind* kind = nullptr;
  for (const auto& k : kKinds)
    if (o.kind == k.name) kind = &k;
  if (!kind) {
    const std::string names = join(kKinds, ", ", [](const auto& k) { return k.name; });
    fail("synthetic:{}: unknown kind '{}' (valid: {})", spec, o.kind, names);
  }
  o.values = kCommonDefaults;
  o.values.insert(kind->defaults.begin(), kind->defaults.end());
  std::string_view rest = colon == std::string_view::npos ? "" : spec.substr(colon + 1);
  while (!rest.empty()) {
    const auto next = rest.find(':');
    const std::string_view item = rest.substr(0, next);
    rest = next == std::string_view::npos ? "" : rest.substr(next + 1);
    const auto eq = item.find('=');
    const std::string key(item.substr(0, eq));
    if (eq == std::string_view::npos || !o.values.count(key)) {
      std::string valid;
      for (const auto& [k, v] : o.values)
        valid += fmt::format("{}{}={}", valid.empty() ? "" : ", ", k, v);
      fail("synthetic:{}: unknown option '{}' for kind {} (valid, with defaults: {})", spec, item,
           o.kind, valid);
    }
    o.values[key] = std::string(item.substr(eq + 1));
  }
  const std::string& shape = o.values["shape"];
  const auto x = shape.find('x');
  if (x == std::string::npos)
    fail("synthetic:{}: shape={} must be ROWSxCOLS, e.g. 256x512", spec, shape);
  o.rows = to_count("shape", shape.substr(0, x), spec);
  o.cols = to_count("shape", shape.substr(x + 1), spec);
  if (o.rows * o.cols > kMaxElements)
    fail("synthetic:{}: shape={} has {} elements, more than the {} a synthetic tensor may have",
         spec, shape, o.rows * o.cols, kMaxElements);
  o.count = to_count("count", o.values["count"], spec);
  if (o.count > kMaxCount)
    fail("synthetic:{}: count={} is more than the {} tensors a synthetic source may have", spec,
         o.values["count"], kMaxCount);
  const std::string& seed = o.values["seed"];
  const auto [end, ec] = std::from_chars(seed.data(), seed.data() + seed.size(), o.seed);
  if (ec != std::errc() || end != seed.data() + seed.size())
    fail("synthetic:{}: seed={} must be an integer in 0..{}", spec, seed, UINT64_MAX);
  o.std = to_number("std", o.values["std"], spec);
  if (o.std <= 0) fail("synthetic:{}: std={} must be positive", spec, o.values["std"]);
  if (o.values.count("df")) {
    o.df = to_number("df", o.values["df"], spec);
    if (o.df <= 0) fail("synthetic:{}: df={} must be positive", spec, o.values["df"]);
  }
  if (o.values.count("rank")) {
    o.rank = to_count("rank", o.values["rank"], spec);
    if (o.rank > std::min(o.rows, o.cols))
      fail("synthetic:{}: rank={} exceeds min(rows, cols) = {}", spec, o.rank,
           std::min(o.rows, o.cols));
    o.decay = to_number("decay", o.values["decay"], spec);
    o.noise = to_number("noise", o.values["noise"], spec);
    if (o.noise < 0) fail("synthetic:{}: noise={} must be >= 0", spec, o.values["noise"]);
  }
  return o;
}

// An (n x r) matrix with orthonormal columns, from the QR of a Gaussian matrix.
MatrixD orthonormal(Draw& d, int64_t n, int64_t r) {
  MatrixD g(n, r);
  for (int64_t i = 0; i < g.size(); ++i) g.data()[i] = d.normal();
  Eigen::HouseholderQR<MatrixD> qr(g);
  return qr.householderQ() * MatrixD::Identity(n, r);
}

Matrix generate(const Options& o, const std::string& name) {
  Draw d(make_rng(o.seed, name));
  Matrix m(o.rows, o.cols);
  float* p = m.data();
  const int64_t n = m.size();
  if (o.kind == "gaussian") {
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(o.std * d.normal());
  } else if (o.kind == "student-t") {
    const double scale = o.df > 2 ? o.std * std::sqrt((o.df - 2) / o.df) : o.std;
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(scale * d.student_t(o.df));
  } else {  // lowrank
    const MatrixD u = orthonormal(d, o.rows, o.rank), v = orthonormal(d, o.cols, o.rank);
    Eigen::VectorXd s(o.rank);
    for (int64_t k = 0; k < o.rank; ++k) s(k) = std::pow(double(k + 1), -o.decay);
    // ||U S V^T||_F = ||s||, so this scale gives the low-rank part RMS std.
    s *= o.std * std::sqrt(double(n)) / s.norm();
    MatrixD w = u * s.asDiagonal() * v.transpose();
    for (int64_t i = 0; i < n; ++i) w.data()[i] += o.noise * o.std * d.normal();
    m = w.cast<float>();
  }
  return m;
}

class SyntheticSource final : public TensorSource {
 public:
  explicit SyntheticSource(std::string_view spec) : o_(parse(spec)) {
    spec_ = "synthetic:" + o_.kind;
    for (const auto& [k, v] : o_.values) spec_ += ":" + k + "=" + v;
  }

  std::vector<TensorInfo> list() const override {
    std::vector<TensorInfo> out;
    for (int64_t i = 0; i < o_.count; ++i) out.push_back({name(i), {o_.rows, o_.cols}, "F32"});
    return out;
  }

  Matrix load(const std::string& tensor) const override {
    for (int64_t i = 0; i < o_.count; ++i)
      if (tensor == name(i)) return generate(o_, tensor);
    fail("{}: no tensor named '{}' (valid: synthetic.0.weight .. synthetic.{}.weight)", spec_,
         tensor, o_.count - 1);
  }

  std::string describe() const override { return spec_; }

 private:
  static std::string name(int64_t i) { return fmt::format("synthetic.{}.weight", i); }
  Options o_;
  std::string spec_;
};

}  // namespace

std::span<const SyntheticKind> synthetic_kinds() {
  return kKinds;
}

std::unique_ptr<TensorSource> open_synthetic(std::string_view spec) {
  return std::make_unique<SyntheticSource>(spec);
}

}  // namespace loft::io
