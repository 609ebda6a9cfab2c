#pragma once
// The ranks of an MPI job (`mpirun -n K loftlab <command> ...`): commands that split their work
// across processes (sweep, init-model) share this. Built without MPI, a run under an MPI
// launcher is an error saying how to get MPI or to use --shard instead.
#include <fmt/format.h>

#include <cstdlib>
#include <exception>
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
  explicit Ranks(std::string command) : command_(std::move(command)) {
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
  // Runs a command's body on this rank. Outside MPI an error propagates (main prints it); under
  // MPI one after the ranks met (collective) ends the whole job, and one before it (a config
  // error, the same on every rank) is printed once, by rank 0.
  template <typename Body>
  int run(Body body) const {
    try {
      return body();
    } catch (const std::exception& e) {
      if (!mpi_) throw;
      if (collective) abort(e.what());
      if (rank_ == 0) fmt::print(stderr, "loftlab {}: error: {}\n", command_, e.what());
      return 1;
    }
  }

  // An error on one rank would leave the others waiting at a barrier: end the whole job.
  [[noreturn]] void abort(const std::string& message) const {
    fmt::print(stderr, "loftlab {}: error (rank {} of {}): {}\n", command_, rank_, size_, message);
#ifdef LOFTLAB_HAVE_MPI
    MPI_Abort(MPI_COMM_WORLD, 1);
#endif
    std::exit(1);
  }

 private:
  std::string command_;
  bool mpi_ = false;
  int rank_ = 0, size_ = 1;
};

}  // namespace loft::cli
