import Foundation
import SqueezeCore

/// Compressing a decoder layer by layer with calibration inputs (Frantar et al. 2023, GPTQ §4 and
/// its reference code's "true sequential" option): the calibration tokens are run block by block,
/// and inside each block the groups of linear layers that share an input — {q, k, v}, {output},
/// {gate, up}, {down} — are compressed in forward order, each from the inputs it receives through
/// everything compressed before it. With `sequential: false` the inputs are those of the
/// uncompressed model (every layer calibrated independently, as in RTN-style pipelines).
extension LanguageModel {
    /// The calibration sequences' layout, after checking they are non-empty, within the context and
    /// within memory (`copies` activations of the widest layer per token).
    func calibrationLayout(_ sequences: [[Int]], _ what: String, copies: Int) throws -> Layout {
        guard !sequences.isEmpty, sequences.allSatisfy({ !$0.isEmpty }) else { throw ModelError("\(what) needs at least one token") }
        for s in sequences where s.count > config.context {
            throw ModelError("a calibration sequence of \(s.count) tokens exceeds the model's context of \(config.context)")
        }
        let layout = Layout(sequences: sequences)
        try Memory.check(
            elements: layout.tokens * max(config.intermediate, 3 * config.hidden), copies: copies, "\(what) over \(layout.tokens) tokens")
        return layout
    }

    /// What a layer's compressor returns: the weight to use and its storage in bits.
    public typealias LayerCompressor = (_ layer: String, _ W: Tensor, _ X: Tensor) throws -> (weight: Tensor, bits: Double)

    public func calibrated(
        sequences: [[Int]], layers: Set<String>, sequential: Bool = true, cancellation: CancellationToken? = nil,
        _ compress: @escaping LayerCompressor
    ) throws -> LanguageModel {
        let layout = try calibrationLayout(sequences, "calibration", copies: 6)
        var result = self
        var x = embed(sequences)
        let task = ProgressMeter.start("calibrate \(name)", total: config.layers)
        defer { task.end() }
        var none: [KVCache]? = nil
        var out = Output(final: Tensor.zeros([0, config.hidden]), lengths: sequences.map(\.count))
        for i in 0..<config.layers {
            try cancellation?.check()
            var replaced: [String: (Tensor, Double)] = [:]
            try block(i, &x, layout, caches: &none, capture: Capture(), out: &out, cancellation: cancellation) { names, X in
                var use: [String: Tensor] = [:]
                for n in names where layers.contains(n) {
                    try cancellation?.check()
                    let (W, bits) = try compress(n, weights[n + ".weight"]!, X)
                    replaced[n] = (W, bits)
                    if sequential { use[n] = W }
                }
                return use
            }
            for (n, (W, bits)) in replaced { result = try result.replacing(n, with: W, bits: bits) }
            task.advance()
        }
        return result
    }
}
