//===- DialectEnumSpellingTest.cpp - config vs dialect enum names ---------===//
//
// The model config (mhmoe/Support, no LLVM) and the dialect (ODS) each have
// an activation and a router-kind enum; the importer maps them by spelling.
// Every config value must name a dialect case, and the names must round-trip.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"
#include "mhmoe/Support/ModelConfig.h"

#include "gtest/gtest.h"

namespace {

TEST(DialectEnumSpelling, EveryActivationIsADialectCase) {
  for (::mhmoe::Activation a : ::mhmoe::kAllActivations) {
    const char *name = ::mhmoe::activationName(a);
    auto dialect = mlir::mhmoe::symbolizeActivation(name);
    ASSERT_TRUE(dialect.has_value()) << name;
    EXPECT_EQ(mlir::mhmoe::stringifyActivation(*dialect), name);
    EXPECT_EQ(::mhmoe::parseActivation(name), a);
  }
  EXPECT_EQ(std::size(::mhmoe::kAllActivations),
            static_cast<size_t>(mlir::mhmoe::getMaxEnumValForActivation()) + 1);
}

TEST(DialectEnumSpelling, EveryRouterKindIsADialectCase) {
  for (::mhmoe::RouterKind k : ::mhmoe::kAllRouterKinds) {
    const char *name = ::mhmoe::routerKindName(k);
    auto dialect = mlir::mhmoe::symbolizeRouterKind(name);
    ASSERT_TRUE(dialect.has_value()) << name;
    EXPECT_EQ(mlir::mhmoe::stringifyRouterKind(*dialect), name);
  }
  EXPECT_EQ(std::size(::mhmoe::kAllRouterKinds),
            static_cast<size_t>(mlir::mhmoe::getMaxEnumValForRouterKind()) + 1);
}

} // namespace
