import Foundation

/// GPT-2 byte-level BPE (Radford et al. 2019; Hugging Face `tokenizers`' ByteLevel + BPE), built from
/// a GGUF file's own vocabulary and merges (`tokenizer.ggml.tokens`, `tokenizer.ggml.merges`).
///
/// Text is split by the model's pre-tokenizer — for SmolLM2 ("smollm" in llama.cpp) every digit is
/// isolated first, then GPT-2's pattern `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// applies to each part —, each piece's UTF-8 bytes are mapped to printable characters (GPT-2's
/// bytes_to_unicode), and merges are applied lowest rank first. Control tokens written in the text
/// (`<|im_start|>`) are matched whole, as Hugging Face's tokenizer does.
public struct BytePairEncoding: Sendable {
    public let vocabulary: [String]
    /// Token type per id from the GGUF (1 normal, 3 control, 4 user-defined, …).
    public let types: [Int]
    let ids: [String: Int]
    let ranks: [Pair: Int]
    /// The token of each single byte (nil where the vocabulary has none).
    let byteIDs: [Int?]
    /// Control and user-defined tokens, longest first, matched in the text before splitting.
    let specials: [(text: [UInt8], id: Int)]
    public let isolateDigits: Bool
    public let bos: Int?, eos: Int?
    public let addBOS: Bool

    struct Pair: Hashable { let a: Int, b: Int }

    /// GPT-2's byte → character table: printable bytes stand for themselves, the rest are moved to U+0100….
    static let byteToScalar: [Unicode.Scalar] = {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        for b in printable { table[b] = Unicode.Scalar(UInt32(b))! }
        var next: UInt32 = 256
        for b in 0..<256 where !printable.contains(b) {
            table[b] = Unicode.Scalar(next)!
            next += 1
            printable.append(b)
        }
        return table
    }()

    static let scalarToByte: [UInt32: UInt8] = {
        var m: [UInt32: UInt8] = [:]
        for (b, s) in byteToScalar.enumerated() { m[s.value] = UInt8(b) }
        return m
    }()

    public init(
        tokens: [String], types: [Int], merges: [String], isolateDigits: Bool, bos: Int?, eos: Int?, addBOS: Bool
    ) throws {
        var ids: [String: Int] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where ids[t] == nil { ids[t] = i }
        var ranks: [Pair: Int] = [:]
        ranks.reserveCapacity(merges.count)
        for (r, m) in merges.enumerated() {
            let parts = m.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, let a = ids[String(parts[0])], let b = ids[String(parts[1])] else {
                throw ModelError("merge \(r) (\"\(m)\") does not join two tokens of the vocabulary")
            }
            if ranks[Pair(a: a, b: b)] == nil { ranks[Pair(a: a, b: b)] = r }
        }
        self.vocabulary = tokens
        self.types = types.count == tokens.count ? types : [Int](repeating: 1, count: tokens.count)
        self.ids = ids
        self.ranks = ranks
        self.specials = zip(tokens, self.types).enumerated()
            .filter { _, tt in (tt.1 == 3 || tt.1 == 4) && !tt.0.isEmpty }
            .map { (Array($1.0.utf8), $0) }
            .sorted { $0.text.count > $1.text.count }
        self.isolateDigits = isolateDigits
        self.bos = bos
        self.eos = eos
        self.addBOS = addBOS
        // A few control bytes may have no token (SmolLM2 lacks 21); they are dropped, as Hugging Face's
        // byte-level BPE without an unknown token drops them.
        byteIDs = (0..<256).map { ids[String(Character(Self.byteToScalar[$0]))] }
        guard byteIDs.filter({ $0 != nil }).count >= 128 else {
            throw ModelError("the vocabulary has tokens for under half of the 256 bytes; it is not a byte-level BPE vocabulary")
        }
    }

    // MARK: - Encoding

    /// Token ids of `text` (a BOS first when the model adds one and `special` is true).
    public func encode(_ text: String, special: Bool = true) -> [Int] {
        var out: [Int] = []
        if special, addBOS, let bos { out.append(bos) }
        var cache: [Substring: [Int]] = [:]
        let bytes = Array(text.utf8)
        var start = 0, i = 0
        func flush(_ end: Int) {
            if end > start {
                let part = String(decoding: bytes[start..<end], as: UTF8.self)
                for piece in pretokenize(part) {
                    if let hit = cache[piece] { out += hit; continue }
                    let ids = merge(piece)
                    cache[piece] = ids
                    out += ids
                }
            }
        }
        if special && !specials.isEmpty {
            var leads = [Bool](repeating: false, count: 256)
            for s in specials { leads[Int(s.text[0])] = true }
            while i < bytes.count {
                if leads[Int(bytes[i])],
                    let s = specials.first(where: {
                        bytes.count - i >= $0.text.count && bytes[i..<(i + $0.text.count)].elementsEqual($0.text)
                    })
                {
                    flush(i)
                    out.append(s.id)
                    i += s.text.count
                    start = i
                } else {
                    i += 1
                }
            }
        }
        flush(bytes.count)
        return out
    }

    /// The BPE merges of one pre-tokenized piece.
    func merge(_ piece: Substring) -> [Int] {
        var symbols = piece.utf8.compactMap { byteIDs[Int($0)] }
        if symbols.count < 2 { return symbols }
        while symbols.count > 1 {
            var best = Int.max, at = -1
            for k in 0..<(symbols.count - 1) {
                if let r = ranks[Pair(a: symbols[k], b: symbols[k + 1])], r < best { best = r; at = k }
            }
            guard at >= 0 else { break }
            let joined = vocabulary[symbols[at]] + vocabulary[symbols[at + 1]]
            guard let id = ids[joined] else { break }
            // Merge every occurrence of this pair, left to right, as the reference does.
            let (a, b) = (symbols[at], symbols[at + 1])
            var merged: [Int] = []
            merged.reserveCapacity(symbols.count)
            var k = 0
            while k < symbols.count {
                if k + 1 < symbols.count, symbols[k] == a, symbols[k + 1] == b {
                    merged.append(id)
                    k += 2
                } else {
                    merged.append(symbols[k])
                    k += 1
                }
            }
            symbols = merged
        }
        return symbols
    }

    enum Class { case letter, number, space, other }

    static func classify(_ s: Unicode.Scalar) -> Class {
        if s.properties.isWhitespace { return .space }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// The pre-tokenizer: digits isolated (when the model does so), then GPT-2's pattern.
    func pretokenize(_ text: String) -> [Substring] {
        let scalars = Array(text.unicodeScalars)
        let classes = scalars.map(Self.classify)
        // Scalar offset → String index, so pieces are substrings of the text.
        var indices: [String.Index] = []
        indices.reserveCapacity(scalars.count + 1)
        var idx = text.unicodeScalars.startIndex
        for _ in scalars { indices.append(idx); idx = text.unicodeScalars.index(after: idx) }
        indices.append(text.endIndex)
        var pieces: [Substring] = []
        var partStart = 0
        for k in 0...scalars.count {
            if k == scalars.count || (isolateDigits && classes[k] == .number) {
                split(scalars, classes, partStart, k, indices, text, &pieces)
                if k < scalars.count { pieces.append(text[indices[k]..<indices[k + 1]]) }
                partStart = k + 1
            }
        }
        return pieces
    }

    /// GPT-2's pattern over scalars lo..<hi (the end of the range is the end of the text for the lookahead).
    func split(
        _ s: [Unicode.Scalar], _ c: [Class], _ lo: Int, _ hi: Int, _ indices: [String.Index], _ text: String,
        _ pieces: inout [Substring]
    ) {
        var i = lo
        func run(_ from: Int, _ cls: Class) -> Int {
            var j = from
            while j < hi && c[j] == cls { j += 1 }
            return j
        }
        func runOther(_ from: Int) -> Int {
            var j = from
            while j < hi && c[j] == .other { j += 1 }
            return j
        }
        while i < hi {
            var end = i
            if s[i] == "'" && i + 1 < hi {
                let n1 = s[i + 1], n2: Unicode.Scalar? = i + 2 < hi ? s[i + 2] : nil
                if n1 == "s" || n1 == "t" || n1 == "m" || n1 == "d" {
                    end = i + 2
                } else if (n1 == "r" && n2 == "e") || (n1 == "v" && n2 == "e") || (n1 == "l" && n2 == "l") {
                    end = i + 3
                }
            }
            if end == i {
                let lead = s[i] == " " && i + 1 < hi ? 1 : 0
                let first = i + lead
                if c[first] == .letter {
                    end = run(first, .letter)
                } else if c[first] == .number {
                    end = run(first, .number)
                } else if c[first] == .other {
                    end = runOther(first)
                } else {
                    // Whitespace: all of it when it ends the text or is followed by more whitespace
                    // only; otherwise all but the last, which joins the next piece (\s+(?!\S), then \s+).
                    let j = run(i, .space)
                    if j == hi || j - i == 1 { end = j } else { end = j - 1 }
                }
            }
            pieces.append(text[indices[i]..<indices[end]])
            i = end
        }
    }

    // MARK: - Decoding

    /// The text of token ids: byte-level tokens mapped back to bytes, control tokens as written.
    public func decode(_ tokens: [Int]) -> String {
        var bytes: [UInt8] = []
        for id in tokens where id >= 0 && id < vocabulary.count {
            if types[id] == 3 || types[id] == 4 {
                bytes += Array(vocabulary[id].utf8)
                continue
            }
            for s in vocabulary[id].unicodeScalars {
                if let b = Self.scalarToByte[s.value] { bytes.append(b) } else { bytes += Array(String(s).utf8) }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The piece of each id as the vocabulary spells it (Ġ for a leading space).
    public func piece(_ id: Int) -> String { id >= 0 && id < vocabulary.count ? vocabulary[id] : "<\(id)>" }
}
