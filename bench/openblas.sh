# Sourced by the compare scripts. PyTorch links the same Debian OpenBLAS as loftlab, but loftlab
# replaces OpenBLAS's generic fallback kernels with ones CPUID allows (lib/runtime/blas_core.hpp)
# and PyTorch does not. extra_torch_core BIN prints the OPENBLAS_CORETYPE to run PyTorch with as
# well, so that it is also timed on loftlab's kernels, or nothing when the two already agree or
# the caller set OPENBLAS_CORETYPE.
extra_torch_core() {
  local loft_core torch_core
  [[ -z ${OPENBLAS_CORETYPE:-} ]] || return 0
  loft_core=$("$1" --version | grep -o '[A-Za-z0-9]* MAX_THREADS' | cut -d' ' -f1)
  torch_core=$(/usr/bin/python3 -c "import ctypes; f = ctypes.CDLL('libopenblas.so.0').openblas_get_corename
f.restype = ctypes.c_char_p; print(f().decode())" 2>/dev/null || true)
  if [[ -n $loft_core && -n $torch_core && $loft_core != "$torch_core" ]]; then
    echo "OpenBLAS kernels: loftlab $loft_core, torch as installed $torch_core: torch runs on both" >&2
    echo "$loft_core"
  fi
}
