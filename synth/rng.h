// A seeded pseudo-random source that gives the same draws on every platform: it uses only the
// raw 64-bit outputs of std::mt19937_64 (fully specified by the standard) and its own
// conversions, never the implementation-defined std:: distributions. Normal draws use
// std::log and std::sqrt in the tails only (below 2.4% and above 97.6%), which are correctly
// rounded on glibc; elsewhere they use + - * / alone.
#ifndef KOPPEL_SYNTH_RNG_H_
#define KOPPEL_SYNTH_RNG_H_

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>

namespace koppel::synth {

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  // An independent stream for one unit of work (a household), so that a unit's draws do not
  // depend on how many draws earlier units made.
  static Rng ForStream(uint64_t seed, uint64_t stream);

  uint64_t Next() { return engine_(); }
  // Uniform in [0, n); n > 0.
  uint64_t Below(uint64_t n);
  // Uniform in [lo, hi], both inclusive.
  int64_t Between(int64_t lo, int64_t hi);
  int Between(int lo, int hi) { return static_cast<int>(Between(int64_t{lo}, int64_t{hi})); }
  // Uniform in [0, 1) with 53 random bits.
  double Uniform();
  bool Bernoulli(double p) { return Uniform() < p; }
  // Standard normal, by inversion of a 53-bit uniform.
  double Normal();
  // Index drawn with probability proportional to weights (all >= 0, sum > 0).
  size_t PickWeighted(std::span<const double> weights);
  template <typename T>
  const T& Pick(std::span<const T> items) {
    return items[static_cast<size_t>(Below(items.size()))];
  }

 private:
  std::mt19937_64 engine_;
};

// The inverse of the standard normal distribution function (Acklam's approximation, relative
// error below 1.2e-9).
double InverseNormal(double p);

// SplitMix64 finaliser: a well-mixed 64-bit hash of a 64-bit value.
uint64_t Mix64(uint64_t x);

}  // namespace koppel::synth

#endif  // KOPPEL_SYNTH_RNG_H_
