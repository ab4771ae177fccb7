import Foundation

/// BERT's uncased WordPiece tokenizer, as `BertTokenizer(do_lower_case=True)` runs it:
///
/// 1. clean: drop NUL, U+FFFD and control characters; every whitespace character becomes a space;
/// 2. put spaces around CJK ideographs;
/// 3. split on whitespace; lower-case each word, decompose it (NFD) and drop combining marks
///    (accents); split it before and after every punctuation character (ASCII symbols and Unicode
///    category P);
/// 4. WordPiece: greedy longest match from the left against the vocabulary, later pieces prefixed
///    with "##"; a word with no complete match, or longer than 100 characters, is `[UNK]`;
/// 5. `[CLS]` … `[SEP]`, truncated to `maxLength` tokens in all.
public struct WordPiece: Sendable {
    public let vocabulary: [String]
    let ids: [String: Int]
    public let unknown: Int, cls: Int, sep: Int, pad: Int
    public static let maxWordCharacters = 100

    /// Reads `vocab.txt` (one token per line; the line number is the id).
    public init(vocabFile path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ModelError("\(path): cannot read the vocabulary (one token per line, UTF-8)")
        }
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        try self.init(vocabulary: lines.map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }, source: path)
    }

    public init(vocabulary: [String], source: String = "vocabulary") throws {
        self.vocabulary = vocabulary
        var ids = [String: Int](minimumCapacity: vocabulary.count)
        for (i, t) in vocabulary.enumerated() where ids[t] == nil { ids[t] = i }
        self.ids = ids
        func special(_ t: String) throws -> Int {
            guard let i = ids[t] else { throw ModelError("\(source): the vocabulary has no \(t) token") }
            return i
        }
        unknown = try special("[UNK]"); cls = try special("[CLS]"); sep = try special("[SEP]"); pad = try special("[PAD]")
    }

    /// Token ids of one text: `[CLS]`, its pieces, `[SEP]`, at most `maxLength` in all.
    public func encode(_ text: String, maxLength: Int = 256) -> [Int] {
        var out = [cls]
        for piece in pieces(text) {
            if out.count >= maxLength - 1 { break }
            out.append(piece)
        }
        out.append(sep)
        return out
    }

    /// The pieces of a text as strings (no `[CLS]`/`[SEP]`).
    public func tokenize(_ text: String) -> [String] { pieces(text).map { vocabulary[$0] } }

    func pieces(_ text: String) -> [Int] {
        var out: [Int] = []
        for word in basicTokens(text) { wordPiece(word, into: &out) }
        return out
    }

    /// Steps 1–3: the words and punctuation marks, lower-cased and without accents.
    public func basicTokens(_ text: String) -> [String] {
        var cleaned = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            if s.value == 0 || s.value == 0xFFFD || Self.isControl(s) { continue }
            if Self.isWhitespace(s) { cleaned.append(" "); continue }
            if Self.isCJK(s) { cleaned.append(" "); cleaned.append(s); cleaned.append(" "); continue }
            cleaned.append(s)
        }
        var words: [String] = []
        for raw in String(cleaned).split(separator: " ", omittingEmptySubsequences: true) {
            let lowered = String(raw).lowercased().decomposedStringWithCanonicalMapping
            var current = String.UnicodeScalarView()
            for s in lowered.unicodeScalars {
                if s.properties.generalCategory == .nonspacingMark { continue }
                if Self.isPunctuation(s) {
                    if !current.isEmpty { words.append(String(current)); current = String.UnicodeScalarView() }
                    words.append(String(s))
                } else {
                    current.append(s)
                }
            }
            if !current.isEmpty { words.append(String(current)) }
        }
        return words
    }

    /// Step 4: greedy longest match; the whole word is `[UNK]` when some part has no match.
    func wordPiece(_ word: String, into out: inout [Int]) {
        let chars = Array(word.unicodeScalars)
        guard chars.count <= Self.maxWordCharacters else { out.append(unknown); return }
        var found: [Int] = []
        var start = 0
        while start < chars.count {
            var end = chars.count
            var match: Int?
            while start < end {
                var sub = String(String.UnicodeScalarView(chars[start..<end]))
                if start > 0 { sub = "##" + sub }
                if let id = ids[sub] { match = id; break }
                end -= 1
            }
            guard let id = match else { out.append(unknown); return }
            found.append(id)
            start = end
        }
        out += found
    }

    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        s == " " || s == "\t" || s == "\n" || s == "\r" || s.properties.generalCategory == .spaceSeparator
    }

    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default: return false
        }
    }

    static func isCJK(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        return (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }
}

/// A model that cannot be built or run, with the reason.
public struct ModelError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
