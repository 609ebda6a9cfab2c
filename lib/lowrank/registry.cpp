// The truncated-SVD registry, spec strings and the checks every method shares.
#include <fmt/format.h>

#include <charconv>

#include "common/error.hpp"
#include "common/finite.hpp"
#include "lowrank/exact.hpp"
#include "lowrank/lapack.hpp"
#include "lowrank/randomized.hpp"
#include "lowrank/svd.hpp"

namespace loft::lowrank {

const std::vector<SvdMethod>& svd_methods() {
  static const std::vector<SvdMethod> table = {
      {"exact",
       "top r triplets from LAPACK sgesvdx (bidiagonalise, then only r vectors), to working "
       "precision",
       {},
       false,
       [](const SvdSpec&, ConstMatrixRef a, int rank, uint64_t, const Eigen::MatrixXf*) {
         return exact_svd(a, rank);
       }},
      {"exact-gesdd",
       "full thin SVD from LAPACK sgesdd truncated to r (the reference for exact); all singular "
       "values for free",
       {},
       true,
       [](const SvdSpec&, ConstMatrixRef a, int rank, uint64_t, const Eigen::MatrixXf*) {
         return exact_svd_gesdd(a, rank);
       }},
      {"randomized",
       "Halko-Martinsson-Tropp range finder (seeded Gaussian sketch of r+p columns, q power "
       "iterations re-orthonormalised), then an exact SVD of the small projection",
       {{"p", &SvdSpec::oversample, 10, 0, "oversampling: extra sketch columns beyond r"},
        {"q", &SvdSpec::power_iters, 2, 0, "power iterations"}},
       false,
       [](const SvdSpec& s, ConstMatrixRef a, int rank, uint64_t seed, const Eigen::MatrixXf*) {
         return randomized_svd(a, rank, s.oversample, s.power_iters, seed);
       }},
      {"randomized-warm",
       "randomized, started from the previous step's row-space basis where the caller has one "
       "(then w power iterations), so LoftQ's later steps cost two or four products",
       {{"p", &SvdSpec::oversample, 10, 0, "oversampling: extra sketch columns beyond r"},
        {"q", &SvdSpec::power_iters, 2, 0, "power iterations without a start"},
        {"w", &SvdSpec::warm_iters, 0, 0, "power iterations from a warm start"}},
       false,
       [](const SvdSpec& s, ConstMatrixRef a, int rank, uint64_t seed,
          const Eigen::MatrixXf* start) {
         return randomized_svd(a, rank, s.oversample, s.power_iters, seed, s.warm_iters, start,
                               true);
       }},
  };
  return table;
}

namespace {

std::string valid_names() {
  std::string out;
  for (const auto& m : svd_methods()) {
    out += out.empty() ? "" : ", ";
    out += m.name;
    for (const auto& o : m.options) out += fmt::format(":{}={}", o.key, o.default_value);
  }
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

}  // namespace

const SvdMethod& find_svd_method(std::string_view name) {
  for (const auto& m : svd_methods())
    if (m.name == name) return m;
  fail("unknown SVD method '{}' (valid: {})", name, valid_names());
}

SvdSpec parse_svd(std::string_view text) {
  auto parts = split(text, ':');
  const SvdMethod& method = find_svd_method(parts[0]);
  SvdSpec spec;
  spec.name = std::string(method.name);
  for (const auto& o : method.options) spec.*o.field = o.default_value;
  for (size_t i = 1; i < parts.size(); ++i) {
    auto eq = parts[i].find('=');
    std::string_view key = parts[i].substr(0, eq);
    const SvdOption* opt = nullptr;
    for (const auto& o : method.options)
      if (o.key == key) opt = &o;
    std::string keys;
    for (const auto& o : method.options)
      keys += fmt::format("{}{}=INT", keys.empty() ? "" : ", ", o.key);
    if (!opt || eq == std::string_view::npos)
      fail("SVD spec '{}': unknown option '{}' for '{}' (valid: {})", text, parts[i], method.name,
           keys.empty() ? "none" : keys);
    std::string_view value = parts[i].substr(eq + 1);
    int v = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || end != value.data() + value.size() || v < opt->min_value)
      fail("SVD spec '{}': {}='{}' must be an integer >= {} ({})", text, key, value, opt->min_value,
           opt->help);
    spec.*opt->field = v;
  }
  return spec;
}

std::string format(const SvdSpec& spec) {
  const SvdMethod& method = find_svd_method(spec.name);
  std::string out(method.name);
  for (const auto& o : method.options) out += fmt::format(":{}={}", o.key, spec.*o.field);
  return out;
}

Matrix TruncatedSvd::reconstruct() const {
  return U * S.asDiagonal() * V.transpose();
}

void normalise_signs(Matrix& U, Matrix& V) {
  for (Eigen::Index j = 0; j < U.cols(); ++j) {
    Eigen::Index best = 0;
    for (Eigen::Index i = 1; i < U.rows(); ++i)
      if (std::abs(U(i, j)) > std::abs(U(best, j))) best = i;
    if (U(best, j) < 0) {
      U.col(j) = -U.col(j);
      V.col(j) = -V.col(j);
    }
  }
}

void check_svd_input(ConstMatrixRef a, int rank) {
  const Eigen::Index k = std::min(a.rows(), a.cols());
  if (k == 0) fail("truncated SVD of an empty {}x{} matrix", a.rows(), a.cols());
  if (rank < 1 || rank > k)
    fail("SVD rank {} is out of range for a {}x{} matrix (valid: 1..{})", rank, a.rows(), a.cols(),
         k);
  if (!all_finite(a)) fail("SVD of a {}x{} matrix with NaN or Inf entries", a.rows(), a.cols());
}

TruncatedSvd truncated_svd(const SvdSpec& spec, ConstMatrixRef a, int rank, uint64_t seed,
                           const Eigen::MatrixXf* start) {
  check_svd_input(a, rank);
  return find_svd_method(spec.name).run(spec, a, rank, seed, start);
}

}  // namespace loft::lowrank
