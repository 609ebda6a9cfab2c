#include "engine/stream.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

#include "common/error.hpp"

namespace loft::engine {

void stream_tensors(const io::TensorSource& source, const std::vector<std::string>& names,
                    const std::function<void(size_t, Matrix&&)>& work,
                    const StreamOptions& options) {
  const int all = options.threads > 0 ? options.threads : omp_get_max_threads();
  const int jobs = std::max(1, std::min<int>(options.jobs, static_cast<int>(names.size())));
  const int threads = std::max(1, all / jobs);
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex load_mu, done_mu;
  std::exception_ptr error;
  size_t done = 0;
  auto worker = [&] {
    // OpenMP's thread count is per calling thread: each tensor's parallel regions use its share.
    omp_set_num_threads(threads);
    while (!stop) {
      const size_t i = next++;
      if (i >= names.size()) return;
      try {
        Matrix w;
        {
          // Sources are not all safe to read from several threads (synthetic ones draw).
          std::lock_guard lock(load_mu);
          w = source.take(names[i]);
        }
        const size_t elements = static_cast<size_t>(w.size());
        work(i, std::move(w));
        std::lock_guard lock(done_mu);
        ++done;
        if (options.on_done) options.on_done(done, elements);
      } catch (const std::exception& e) {
        std::lock_guard lock(done_mu);
        if (!error)
          error =
              std::make_exception_ptr(Error(fmt::format("tensor '{}': {}", names[i], e.what())));
        stop = true;
      }
    }
  };
  if (jobs == 1) {
    const int caller = omp_get_max_threads();
    worker();
    omp_set_num_threads(caller);
  } else {
    std::vector<std::thread> pool;
    for (int j = 0; j < jobs; ++j) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace loft::engine
