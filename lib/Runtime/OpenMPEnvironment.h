//===- OpenMPEnvironment.h - keep libomp from aborting the host -*- C++ -*-===//
//
// libomp reads OMP_* / KMP_* variables when it starts and aborts the whole
// process on values it cannot use (an empty OMP_NUM_THREADS, a 100G stack),
// and aborts again when a worker thread cannot be created (a low ulimit -v).
// The runtime checks the variables before it first loads a compiled library,
// and caps each run's thread count to what the address-space limit allows.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_LIB_RUNTIME_OPENMPENVIRONMENT_H
#define MHMOE_LIB_RUNTIME_OPENMPENVIRONMENT_H

#include <cstdint>
#include <string>
#include <vector>

namespace mhmoe {

/// Unsets the OpenMP variables whose values libomp would abort on and
/// returns one warning per variable removed. Idempotent.
std::vector<std::string> sanitizeOpenMPEnvironment();

/// The most threads a run can start in `addressSpaceLeft` bytes of address
/// space (what ulimit -v leaves), each with a stack and a malloc arena; 0 when
/// it is negative (no limit).
int32_t maxThreadsForAddressSpace(double addressSpaceLeft);

} // namespace mhmoe

#endif
