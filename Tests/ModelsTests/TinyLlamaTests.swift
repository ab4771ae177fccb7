import Datasets
import Foundation
import Models
import SqueezeCore
import Testing

/// A llama GGUF written byte by byte (1 block, hidden 8, 2 heads, 1 key/value head, byte-level
/// vocabulary): any llama GGUF loads, and damaged or foreign ones are clear errors.
@Suite struct TinyLlamaTests {
    enum Meta { case u32(UInt32), f32(Float), string(String), strings([String]), bool(Bool), i32s([Int32]) }

    /// GGUF v3 with the given metadata and F32 tensors (shapes row-major, as squeeze shows them).
    static func gguf(_ meta: [(String, Meta)], _ tensors: [(String, [Int])], seed: UInt64 = 1, cut: Int = 0) -> Data {
        var d = Data("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); d.append(contentsOf: Array(s.utf8)) }
        u32(3); u64(UInt64(tensors.count)); u64(UInt64(meta.count))
        for (k, v) in meta {
            str(k)
            switch v {
            case .u32(let x): u32(4); u32(x)
            case .f32(let x): u32(6); u32(x.bitPattern)
            case .string(let s): u32(8); str(s)
            case .bool(let b): u32(7); d.append(b ? 1 : 0)
            case .strings(let a): u32(9); u32(8); u64(UInt64(a.count)); for s in a { str(s) }
            case .i32s(let a): u32(9); u32(5); u64(UInt64(a.count)); for x in a { u32(UInt32(bitPattern: x)) }
            }
        }
        var offset = 0
        for (name, shape) in tensors {
            str(name); u32(UInt32(shape.count))
            for e in shape.reversed() { u64(UInt64(e)) }
            u32(0); u64(UInt64(offset))
            offset += (shape.reduce(1, *) * 4 + 31) / 32 * 32
        }
        while d.count % 32 != 0 { d.append(0) }
        var rng = RandomGenerator(seed: seed)
        for (name, shape) in tensors {
            let n = shape.reduce(1, *)
            for _ in 0..<n {
                let v: Float = name.hasSuffix("norm.weight") ? 1 : Float(rng.normal()) * 0.3
                u32(v.bitPattern)
            }
            while d.count % 32 != 0 { d.append(0) }
        }
        return d.prefix(d.count - cut)
    }

    static let byteTokens: [String] = (0..<256).map { b in
        // GPT-2's printable stand-in for each byte, as BytePairEncoding maps them.
        let printable = Array(33...126) + Array(161...172) + Array(174...255)
        if printable.contains(b) { return String(Character(Unicode.Scalar(UInt32(b))!)) }
        let rank = (0..<256).filter { !printable.contains($0) }.firstIndex(of: b)!
        return String(Character(Unicode.Scalar(UInt32(256 + rank))!))
    }

    static func meta(architecture: String = "llama") -> [(String, Meta)] {
        let tokens = byteTokens + ["Ġt", "he", "Ġthe", "<|endoftext|>"]
        return [
            ("general.architecture", .string(architecture)), ("general.name", .string("tiny")),
            ("\(architecture).block_count", .u32(1)), ("\(architecture).embedding_length", .u32(8)),
            ("\(architecture).attention.head_count", .u32(2)), ("\(architecture).attention.head_count_kv", .u32(1)),
            ("\(architecture).feed_forward_length", .u32(16)), ("\(architecture).context_length", .u32(64)),
            ("\(architecture).attention.layer_norm_rms_epsilon", .f32(1e-5)), ("\(architecture).rope.freq_base", .f32(10_000)),
            ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string("smollm")),
            ("tokenizer.ggml.tokens", .strings(tokens)),
            ("tokenizer.ggml.token_type", .i32s(Array(repeating: 1, count: 259) + [3])),
            ("tokenizer.ggml.merges", .strings(["Ġ t", "h e", "Ġt he"])),
            ("tokenizer.ggml.eos_token_id", .u32(259)), ("tokenizer.ggml.add_bos_token", .bool(false)),
        ]
    }

    static func tensors(kRows: Int = 4) -> [(String, [Int])] {
        [
            ("token_embd.weight", [260, 8]), ("output_norm.weight", [8]), ("blk.0.attn_norm.weight", [8]),
            ("blk.0.ffn_norm.weight", [8]), ("blk.0.attn_q.weight", [8, 8]), ("blk.0.attn_k.weight", [kRows, 8]),
            ("blk.0.attn_v.weight", [4, 8]), ("blk.0.attn_output.weight", [8, 8]), ("blk.0.ffn_gate.weight", [16, 8]),
            ("blk.0.ffn_up.weight", [16, 8]), ("blk.0.ffn_down.weight", [8, 16]),
        ]
    }

    static func load(_ data: Data) throws -> LanguageModel {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tiny-\(UUID().uuidString).gguf")
        try data.write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        return try LanguageModel(path: url.path)
    }

    @Test func anyLlamaGGUFLoadsAndRuns() throws {
        let m = try Self.load(Self.gguf(Self.meta(), Self.tensors()))
        #expect(m.config.layers == 1 && m.config.kvHeads == 1 && m.config.headDim == 4 && m.linearLayers.count == 7)
        #expect(m.tokenizer.encode(" the the") == [258, 258])
        #expect(m.tokenizer.encode("<|endoftext|>x") == [259, 120])
        let a = m.tokenizer.encode("hello there"), b = m.tokenizer.encode(" the end")
        let both = try m.forward([a, b]).final, alone = try m.forward([b]).final
        for (x, y) in zip(both.storage.suffix(alone.count), alone.storage) { #expect(abs(x - y) < 1e-5) }
        let p = try m.perplexity(tokens: (0..<64).map { [258, 104, 101, 32][$0 % 4] }, context: 16, preset: .llamaCpp)
        #expect(p.windows == 4 && p.scored == 4 * 7 && p.ppl.isFinite && p.ppl > 1)
    }

    @Test func anotherArchitectureIsNamed() {
        #expect {
            try Self.load(Self.gguf(Self.meta(architecture: "gpt2"), Self.tensors()))
        } throws: { "\($0)".contains("architecture is \"gpt2\"") && "\($0)".contains("llama") }
    }

    @Test func aTruncatedFileIsAClearError() {
        #expect {
            try Self.load(Self.gguf(Self.meta(), Self.tensors(), cut: 100))
        } throws: { "\($0)".contains("outside the file") }
    }

    @Test func aTensorOfTheWrongShapeIsNamed() {
        #expect {
            try Self.load(Self.gguf(Self.meta(), Self.tensors(kRows: 8)))
        } throws: { "\($0)".contains("blk.0.attn_k.weight has shape 8×8, expected 4×8") }
    }

    @Test func aMissingTensorIsNamed() {
        #expect {
            try Self.load(Self.gguf(Self.meta(), Self.tensors().filter { $0.0 != "blk.0.ffn_up.weight" }))
        } throws: { "\($0)".contains("no tensor blk.0.ffn_up.weight") }
    }
}
