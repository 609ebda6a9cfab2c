#pragma once
// The ranks of a sweep under mpirun (experiments/cli/sweep.cpp): who runs which points, who
// holds the lock and merges, and how an error on one rank ends the job.
#include <fmt/format.h>

#include <cstdlib>
#include <string>

#include "common/error.hpp"

#ifdef LOFTLAB_HAVE_MPI
// The C API only: MPI::MPI_C does not link OpenMPI's deprecated C++ bindings.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace loft::cli {

// The ranks of an MPI job, or one rank when not started by mpirun. MPI is initialised only
// when the launcher says so (OMPI_COMM_WORLD_SIZE / PMI_SIZE), so a plain run never pays for it.
class Ranks {
 public:
  Ranks() {
    const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
    if (!size) size = std::getenv("PMI_SIZE");
    if (!size || std::atoi(size) <= 1) return;
#ifdef LOFTLAB_HAVE_MPI
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    mpi_ = true;
#else
    fail(
        "started by an MPI launcher ({} ranks), but this loftlab was built without MPI; "
        "install libopenmpi-dev and rebuild, or use --shard I/N",
        size);
#endif
  }
  ~Ranks() {
#ifdef LOFTLAB_HAVE_MPI
    if (mpi_) MPI_Finalize();
#endif
  }
  Ranks(const Ranks&) = delete;
  Ranks& operator=(const Ranks&) = delete;

  bool mpi() const {
    return mpi_;
  }
  // Set once the ranks start acting together: an error after that must end the whole job.
  mutable bool collective = false;
  int rank() const {
    return rank_;
  }
  int size() const {
    return size_;
  }

  void barrier() const {
#ifdef LOFTLAB_HAVE_MPI
    if (mpi_) MPI_Barrier(MPI_COMM_WORLD);
#endif
  }
  // Rank 0's text to every rank.
  std::string broadcast(std::string text) const {
#ifdef LOFTLAB_HAVE_MPI
    if (!mpi_) return text;
    int n = static_cast<int>(text.size());
    MPI_Bcast(&n, 1, MPI_INT, 0, MPI_COMM_WORLD);
    text.resize(static_cast<size_t>(n));
    MPI_Bcast(text.data(), n, MPI_CHAR, 0, MPI_COMM_WORLD);
#endif
    return text;
  }
  long sum(long v) const {
#ifdef LOFTLAB_HAVE_MPI
    long total = v;
    if (mpi_) MPI_Allreduce(&v, &total, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    return total;
#else
    return v;
#endif
  }
  // An error on one rank would leave the others waiting at a barrier: end the whole job.
  [[noreturn]] void abort(const std::string& message) const {
    fmt::print(stderr, "loftlab sweep: error (rank {} of {}): {}\n", rank_, size_, message);
#ifdef LOFTLAB_HAVE_MPI
    MPI_Abort(MPI_COMM_WORLD, 1);
#endif
    std::exit(1);
  }

 private:
  bool mpi_ = false;
  int rank_ = 0, size_ = 1;
};

}  // namespace loft::cli
