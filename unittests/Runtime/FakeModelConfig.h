//===- FakeModelConfig.h - Config of the fake compiled library -*- C++ -*-===//
#ifndef MHMOE_UNITTESTS_FAKEMODELCONFIG_H
#define MHMOE_UNITTESTS_FAKEMODELCONFIG_H

#include "mhmoe/Support/ModelConfig.h"

inline mhmoe::ModelConfig fakeModelConfig() {
  mhmoe::ModelConfig c;
  c.hiddenSize = 8;
  c.numLayers = 2;
  c.heads = 2;
  c.numExperts = 4;
  c.topK = 2;
  c.expertFfnDim = 6;
  c.activation = mhmoe::Activation::SwiGLU;
  return c;
}

#endif // MHMOE_UNITTESTS_FAKEMODELCONFIG_H
