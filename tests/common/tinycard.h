// A model card for engine tests: the built-in architecture, small enough that a test trains it in moments.
#pragma once

#include "core/model/modelcard.h"

namespace se::testing {

inline se::model::ModelCard tinyCard(int layers, int maxSeq, int maxAnswerTokens)
{
    se::model::ModelCard c;
    c.imageSize = 16;
    c.visionStages = 2;
    c.visionWidth = 16;
    c.dModel = 32;
    c.layers = layers;
    c.heads = 2;
    c.ffMult = 2;
    c.maxSeq = maxSeq;
    c.maxAnswerTokens = maxAnswerTokens;
    return c;
}

} // namespace se::testing
