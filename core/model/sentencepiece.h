// A SentencePiece model (`tokenizer.model`, Llama's tokenizer) read and run by the project's own code: the
// protobuf ModelProto is decoded field by field (pieces with score and type, trainer and normalizer specs) and
// text is encoded with SentencePiece's BPE algorithm — the adjacent pair whose concatenation is the
// best-scored piece merges first (ties: leftmost), symbols that are no piece fall back to <0xXX> byte pieces —
// after the identity normalisation Llama uses (dummy "▁" prefix, spaces as "▁"). Why not libsentencepiece:
// Debian's build carries its own copy of protobuf whose exported symbols collide with the libprotobuf that
// LibTorch loads, and the process crashes before main(). Unigram models and precompiled normalisation maps are
// refused with a message. Plain C++, no LibTorch.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace se::model {

class SentencePieceModel
{
public:
    enum class PieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

    // Reads `file`; throws naming it and the reason (not a model, truncated, an unsupported kind).
    static SentencePieceModel load(const std::string &file);
    static SentencePieceModel parse(const std::string &bytes, const std::string &origin);

    // Ids of `text`; `dummyPrefix` false leaves out the leading "▁" even when the model adds one.
    std::vector<int> encode(const std::string &text, bool dummyPrefix = true) const;
    std::string decode(const std::vector<int> &ids) const; // control and unknown pieces give nothing
    int size() const { return static_cast<int>(m_pieces.size()); }
    int pieceToId(const std::string &piece) const; // -1 when absent
    const std::string &idToPiece(int id) const;
    PieceType type(int id) const { return m_types.at(static_cast<size_t>(id)); }
    bool isControl(int id) const { return type(id) == PieceType::Control; }
    bool isUnknown(int id) const { return type(id) == PieceType::Unknown; }
    int unkId() const { return m_unk; }
    int bosId() const { return m_bos; }
    int eosId() const { return m_eos; }
    bool addsDummyPrefix() const { return m_addDummyPrefix; }

private:
    std::vector<std::string> m_pieces;
    std::vector<float> m_scores;
    std::vector<PieceType> m_types;
    std::unordered_map<std::string, int> m_ids;
    std::vector<std::string> m_userDefined; // matched whole before merging, longest first
    int m_byteIds[256];
    int m_unk = 0, m_bos = 1, m_eos = 2;
    bool m_byteFallback = false, m_addDummyPrefix = true, m_removeExtraWhitespaces = true, m_escapeWhitespaces = true;
};

} // namespace se::model
