import Compression
import Foundation
import OrderedCollections
import SqueezeCore

extension Builtins {
    static let kvCache: [Operation] = [
        Operation(
            "gear", family: "compression",
            summary: "GEAR KV-cache compression: group-wise quantization + a low-rank residual + exact sparse outliers.",
            doc:
                """
                    D̂ = Q(D − S) + L + S for a tokens × channels matrix (Kang et al. 2024, the KIVI-based variant): S keeps each row's \
                    ⌊outliers·channels/2⌋ largest and smallest entries exactly; Q quantizes groups of `group` channels per token \
                    asymmetrically (scale (max − min)/(2^b − 1), offset min); L is a rank-r truncated SVD of what remains (the reference \
                    uses power iterations). Defaults as the reference scripts: 2 bits, group 64, outliers 2%, rank 4. .bits: codes + an \
                    fp16 scale and offset per group + outliers at 32 bits plus log₂(channels) index bits + r·(m + n) fp16 factors.
                    """,
            example: "K = randn(64, 128, seed: 1)\ng = gear(K)\nprint(error(K, g) < error(K, gear(K, rank: 0, outliers: 0)))",
            params: [
                ParamSpec("D", .tensor), ParamSpec("bits", .integer, .value(.number(2)), range: 1...16, namedOnly: true),
                ParamSpec("group", .integer, .value(.number(64)), range: 1...1_000_000, namedOnly: true),
                ParamSpec("rank", .integer, .value(.number(4)), range: 0...1_000_000, namedOnly: true),
                ParamSpec("outliers", .number, .value(.number(0.02)), range: 0...1, namedOnly: true),
            ]
        ) { args, interp in
            let D = try args.tensor("D")
            try checkFinite(D, args, "D")
            let (bits, group, rank, outliers) = (
                try args.int("bits"), try args.int("group"), try args.int("rank"), try args.number("outliers")
            )
            return compressed(try Compressed.gear(D, bits: bits, group: group, rank: rank, outliers: outliers))
        },
        Operation(
            "kvquant", family: "compression",
            summary: "KVQuant: per-channel (keys) or per-token (values) non-uniform quantization with dense-and-sparse outliers.",
            doc:
                """
                    Hooper et al. 2024: values outside each vector's [1 − t, t] percentiles (t = 1 − outliers/2; outliers 0.01 ≈ the \
                    reference's 0.99 threshold) stay exact; the rest is normalised to [−1, 1] by the vector's zero point (hi + lo)/2 and \
                    half range (hi − lo)/2 and rounded to the nearest of 2^b levels from 1-D k-means on the normalised values (NUQ; the \
                    reference weights it by Fisher information, which needs gradients squeeze does not have). per: \"channel\" for keys, \
                    \"token\" for values. .bits: b per value + an fp16 zero point and range per vector + 2^b fp16 levels + outliers at 16 \
                    bits plus a 32-bit index.
                    """,
            example: "K = randn(128, 64, seed: 1)\nq = kvquant(K, bits: 3, per: \"channel\", seed: 0)\nprint(error(K, q) < 0.2)",
            params: [
                ParamSpec("X", .tensor), ParamSpec("bits", .integer, .value(.number(4)), range: 1...12, namedOnly: true),
                ParamSpec("per", .choice(["channel", "token"]), .value(.string("channel")), namedOnly: true),
                ParamSpec("outliers", .number, .value(.number(0.01)), range: 0...0.5, namedOnly: true), seedParam,
            ]
        ) { args, interp in
            let X = try args.tensor("X")
            try checkFinite(X, args, "X")
            let (bits, outliers) = (try args.int("bits"), try args.number("outliers"))
            let perChannel = try args.string("per") == "channel"
            return compressed(
                try withGenerator(args, interp) {
                    try Compressed.kvQuant(X, bits: bits, perChannel: perChannel, outliers: outliers, rng: &$0)
                })
        },
    ]
}
