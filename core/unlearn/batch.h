// Turning (image, question, answer) triples into model batches in the chat format, with labels on the answer
// tokens only, and drawing batches from a set in a seeded shuffled order.
#pragma once

#include "core/model/chatformat.h"
#include "core/model/imagestore.h"
#include "core/model/tokenizer.h"

#include <cstdint>
#include <random>
#include <string>
#include <torch/torch.h>
#include <vector>

namespace se::unlearn {

struct Example {
    std::string imageFile;
    std::vector<int> ids; // chat-formatted prompt + answer + <eos>, cut at the model's max_seq
    int answerStart = 0;
};

Example makeExample(const se::model::Tokenizer &tok, int imageTokens, int maxSeq, const std::string &imageFile,
                    const std::string &question, const std::string &answer);

struct Batch {
    torch::Tensor ids;    // [B, T] int64, right-padded with <pad>
    torch::Tensor labels; // [B, T] next answer token or kIgnore
    torch::Tensor images; // [B, 3, S, S] (images of any size: ImageStore::batch's NaN-padded [B, 3, H, W])
    int64_t answerTokens = 0;
};

// The same through any model's chat format (the built-in one above is BuiltinChatFormat's), for an image of
// `imageTokens` (registry.h imageTokensOf; -1: the model's fixed count).
Example makeExample(const se::model::ChatFormat &chat, int imageTokens, int maxSeq, const std::string &imageFile,
                    const std::string &question, const std::string &answer);

// Right-padded with `padId` (the built-in model's <pad> by default).
Batch collate(const std::vector<const Example *> &examples, se::model::ImageStore &images, const torch::Device &device,
              int64_t padId = se::model::Tokenizer::Pad);

// Endless epochs over a set in a seeded shuffled order; next() returns `batch` examples. With `bucket`, each
// epoch's order groups examples of similar length into the same batch (sorted within windows of 8 batches,
// then the batches shuffled), so less of a batch is padding; the order stays random and fixed by the seed.
class Sampler
{
public:
    Sampler(const std::vector<Example> &set, std::uint64_t seed, bool bucket = true);
    std::vector<const Example *> next(int batch);
    int epoch() const { return m_epoch < 0 ? 0 : m_epoch; }

private:
    void arrange(int batch);
    const std::vector<Example> &m_set;
    bool m_bucket;
    std::mt19937_64 m_rng;
    std::vector<size_t> m_order;
    size_t m_pos = 0;
    int m_epoch = 0;
};

} // namespace se::unlearn
